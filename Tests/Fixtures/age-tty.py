#!/usr/bin/env python3
"""Runs `age ARGS...` on a pseudo-terminal, answering its passphrase prompts.

`age -p` (encrypt with a passphrase) and `age -d` of a passphrase-encrypted file read the
passphrase from the terminal only; the tests drive them through this. The passphrase comes
from the environment variable AGE_TTY_PASSPHRASE, never from the command line. Exits with
age's status; age's terminal output goes to stderr.
"""
import os
import pty
import select
import sys
import time

passphrase = os.environ["AGE_TTY_PASSPHRASE"].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age"] + sys.argv[1:])
deadline = time.monotonic() + 120
seen = b""
answered = 0
while True:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        sys.exit("age-tty: age did not finish within 120 s")
    ready, _, _ = select.select([fd], [], [], 0.5)
    if ready:
        try:
            data = os.read(fd, 1024)
        except OSError:
            break
        if not data:
            break
        sys.stderr.buffer.write(data)
        seen += data
        # age asks for the passphrase, then (when encrypting) to confirm it.
        while seen.lower().count(b"passphrase") > answered:
            answered += 1
            os.write(fd, passphrase)
    else:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
