"""Two code objects at one address, one after the other.

first.py's spin() runs 0.3 s of its thread's CPU time (not wall time: on a
loaded machine the wall-clock spin got 0.22 s of CPU) and is freed; a copy named second.py takes its
address (the interpreter's allocator hands the freed block out again at
once) and runs 0.3 s. Prints whether the address was reused.
"""
import time
import types


def spin(t):
    end = time.thread_time() + t
    while time.thread_time() < end:
        pass


def run_copy(name):
    code = spin.__code__.replace(co_filename=f"{name}.py",
                                 co_name=f"spin_{name}",
                                 co_qualname=f"spin_{name}")
    types.FunctionType(code, globals())(0.3)
    return id(code)


first = run_copy("first")
second = run_copy("second")
print("reused" if first == second else "not reused")
