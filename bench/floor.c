// floor.c ROOTFS [CMD...]: the least a container runtime must do to run `true` in a container,
// used as the floor that bench/run.sh compares every runtime's `run` against. It does only:
// clone into new pid, mount, uts, ipc and net namespaces; make the mounts private; bind the
// rootfs onto itself; pivot_root into it; mount /proc; exec the command (default /bin/true);
// and the parent waits for it. No config parsing, no cgroups, no /dev, no state, no hooks.
// Exits with the child's exit code (128+signal if killed), 125 if setup failed.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char* const* g_argv;
static const char* g_rootfs;

static int die(const char* what)
{
    // Only async-signal-safe calls after clone: write, not stdio.
    const char* err = strerror(errno);
    (void)!write(2, "floor: ", 7);
    (void)!write(2, what, strlen(what));
    (void)!write(2, ": ", 2);
    (void)!write(2, err, strlen(err));
    (void)!write(2, "\n", 1);
    _exit(125);
}

static int child(void* arg)
{
    (void)arg;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make / private");
    if (mount(g_rootfs, g_rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        die("bind rootfs");
    if (chdir(g_rootfs) < 0)
        die("chdir rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die("detach old root");
    if (chdir("/") < 0)
        die("chdir /");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die("mount /proc");
    execv(g_argv[0], g_argv);
    die("exec");
    return 125;
}

int main(int argc, char** argv)
{
    static char* default_cmd[] = { "/bin/true", NULL };
    static char stack[64 * 1024] __attribute__((aligned(16)));
    if (argc < 2) {
        fprintf(stderr, "usage: floor ROOTFS [CMD ARGS...]\n");
        return 2;
    }
    g_rootfs = argv[1];
    g_argv = argc > 2 ? argv + 2 : default_cmd;
    int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD;
    pid_t pid = clone(child, stack + sizeof stack, flags, NULL);
    if (pid < 0) {
        perror("floor: clone");
        return 125;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("floor: waitpid");
            return 125;
        }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
