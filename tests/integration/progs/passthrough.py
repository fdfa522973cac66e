"""Echo stdin upper-cased, then exit with a chosen code."""
import sys
import threading

data = sys.stdin.read()
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print(data.upper(), end="")
sys.exit(int(sys.argv[1]))
