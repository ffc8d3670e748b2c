/**
 * A sandbox host's init, as far as libvirt can tell: the process that adopts and reaps its orphans at once.
 *
 * libvirtd daemonizes, and so does each dnsmasq it starts; their orphans go to the nearest "child subreaper"
 * ancestor, else to PID 1. On a real hypervisor PID 1 is systemd, which reaps at once. On this machine PID 1
 * is a VM agent that reaps orphans only now and then, so a dnsmasq that exited stays a zombie for a second
 * or more, and libvirt, which waits for a dnsmasq it stopped by probing `kill(pid, 0)` every 200 ms (a
 * zombie still answers), took 1-2 s per restart: a DHCP range change (two restarts) took 4 s here and well
 * under one on a real host. Running libvirtd under this reaper makes the sandbox behave like the real thing.
 *
 * The program forks: the child marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), starts the
 * command (`libvirtd -d ...`, which returns once the daemon is up), reports its exit code to the parent, then
 * reaps every orphan it adopts until it has no children left; the parent exits with the command's exit code
 * (so the caller waits only for the command, as before). It is a constant program: the command comes in argv.
 */
export const REAPER_PY = `
import ctypes, os, sys
r, w = os.pipe()
if os.fork() > 0:
    os.close(w)
    data = os.read(r, 16)
    sys.exit(int(data) if data else 1)
os.close(r)
os.setsid()
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    os.write(w, b"1")
    sys.exit(1)
pid = os.fork()
if pid == 0:
    os.close(w)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
os.write(w, str(os.waitstatus_to_exitcode(status) & 255).encode())
os.close(w)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        continue
`;

/** `argv` run under the reaper: the argv to hand to nsenter (or any runner) in its place. */
export function underReaper(argv: readonly string[]): string[] {
  return ["python3", "-c", REAPER_PY, ...argv];
}
