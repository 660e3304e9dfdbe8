/* syscall_probe: makes system calls busybox has no applet for, for the seccomp tests.
 *
 *   syscall_probe PROBE...
 *
 * For each PROBE prints "PROBE: ok" or "PROBE: <strerror>" on its own line; exits 1 when
 * any failed, 2 on a usage error. Probes:
 *   keyctl          keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
 *   clone           clone(SIGCHLD): a plain child process
 *   clone-newns     clone(CLONE_NEWNS | SIGCHLD)
 *   clone-newuser   clone(CLONE_NEWUSER | SIGCHLD)
 *   clone3          clone3 with no flags
 *   personality     personality(0xffffffff): reads the current persona
 *   personality-aslr-off   personality(ADDR_NO_RANDOMIZE)
 * A child a probe makes exits at once and is reaped.
 *
 * Linked statically so that it runs inside the busybox root file system of the tests. */
#include <errno.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The raw system call, so that the C library's wrapper (which may fall back to another
 * call) does not hide what the filter answered. Returns 0 or an errno. */
static int raw_clone(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

static int raw_clone3(void)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

static int raw(long rc) { return rc < 0 ? errno : 0; }

static int probe(const char* name, int* err)
{
    if (strcmp(name, "keyctl") == 0)
        *err = raw(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    else if (strcmp(name, "clone") == 0)
        *err = raw_clone(0);
    else if (strcmp(name, "clone-newns") == 0)
        *err = raw_clone(CLONE_NEWNS);
    else if (strcmp(name, "clone-newuser") == 0)
        *err = raw_clone(CLONE_NEWUSER);
    else if (strcmp(name, "clone3") == 0)
        *err = raw_clone3();
    else if (strcmp(name, "personality") == 0)
        *err = raw(syscall(SYS_personality, 0xffffffffUL));
    else if (strcmp(name, "personality-aslr-off") == 0)
        *err = raw(syscall(SYS_personality, (unsigned long)ADDR_NO_RANDOMIZE));
    else
        return -1;
    return 0;
}

int main(int argc, char** argv)
{
    int failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: syscall_probe PROBE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int err = 0;
        if (probe(argv[i], &err) < 0) {
            fprintf(stderr, "syscall_probe: unknown probe %s\n", argv[i]);
            return 2;
        }
        printf("%s: %s\n", argv[i], err == 0 ? "ok" : strerror(err));
        fflush(stdout);
        failed |= err != 0;
    }
    return failed;
}
