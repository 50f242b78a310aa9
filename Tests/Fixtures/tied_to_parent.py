"""Becomes a command (exec, so its pid is the command's) that is killed once the process that
started it exits.

Suites keep one moto_server for the whole test run in a static that is never torn down; started
through this, the server goes when the test process goes, however it ends. A forked watcher
checks the command's parent and dies with the command (PR_SET_PDEATHSIG)."""
import ctypes, os, signal, sys, time

PR_SET_PDEATHSIG = 1
command, starter = os.getpid(), os.getppid()


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


if os.fork() == 0:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        while parent_of(command) == starter:
            time.sleep(0.5)
        os.kill(command, signal.SIGKILL)
    finally:
        os._exit(0)
os.execvp(sys.argv[1], sys.argv[1:])
