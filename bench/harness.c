// harness.c: the timing loop behind bench/run.sh. Runs husk, runc and crun (and the floor
// program) interleaved — one sample of each runtime per round, in a fixed order — timing each
// command from posix_spawn to wait4 with CLOCK_MONOTONIC, and prints a markdown table of
// median, min and max per figure with the husk/crun and husk/runc ratios.
//
// It is a child subreaper (as containerd's shim is): a container's init that its runtime's
// `create` leaves behind is re-parented here, which is how figure 2 learns that `true` exited
// (a pidfd on the pid from --pid-file, then reaping it) before calling `delete`.
//
// Runtimes get stdin and stdout on /dev/null and stderr in WORK/<name>.stderr (kept for the
// last command), so a failure can be shown; a failing runtime is marked failed for that
// figure and skipped for the rest of it, and the table says so.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

enum { F_RUN, F_LIFE, F_EXEC, F_PAR2, F_PAR8, F_RSS, NFIG };
enum { S_CREATE, S_START, S_WAIT, S_DELETE, NSTEP };
enum { MAXRT = 3, FLOOR = 3, NCOL = 4, MAXRUNS = 1000 };

struct runtime {
    const char* name;
    const char* path;
    char root[4096];
    char errlog[4096];
    int failed[NFIG];
};

static struct runtime g_rt[MAXRT];
static int g_nrt;
static const char* g_work;
static const char* g_bundle;       // process.args = ["true"]
static const char* g_sleep_bundle; // process.args = ["sleep", "1000"]
static const char* g_floor;
static int g_runs = 20, g_warmup = 3, g_batch_runs = 20, g_batch = 50;
static int g_devnull = -1;
static unsigned g_figmask = (1u << NFIG) - 1;

static double g_samples[NFIG][NCOL][MAXRUNS];
static int g_nsamples[NFIG][NCOL];
static double g_steps[NSTEP][MAXRT][MAXRUNS];
static int g_nsteps[NSTEP][MAXRT];
static int g_floor_failed;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void reap_strays(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

// Starts argv with stdio on /dev/null and stderr to errfd; returns the pid.
static pid_t spawn(char* const argv[], int errfd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, g_devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, g_devnull, 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        errno = err;
        return -1;
    }
    return pid;
}

static void show_failure(const char* who, char* const argv[], int status, const char* errlog)
{
    fprintf(stderr, "harness: %s failed (", who);
    if (status < 0)
        fprintf(stderr, "spawn: %s", strerror(errno));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "killed by signal %d", WTERMSIG(status));
    else
        fprintf(stderr, "exit %d", WEXITSTATUS(status));
    fprintf(stderr, "):");
    for (int i = 0; argv[i]; i++)
        fprintf(stderr, " %s", argv[i]);
    fputc('\n', stderr);
    if (errlog) {
        FILE* f = fopen(errlog, "r");
        char line[1024];
        int n = 0;
        while (f && fgets(line, sizeof line, f) && n++ < 20)
            fprintf(stderr, "  | %s", line);
        if (f)
            fclose(f);
    }
}

// Runs argv to completion; *secs is the wall time from spawn to reaped, *maxrss_kb what wait4
// reports (the same number as GNU time's "Maximum resident set size"). Returns 0 on exit 0.
static int run_argv(char* const argv[], const char* errlog, double* secs, long* maxrss_kb)
{
    int errfd = open(errlog ? errlog : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (errfd < 0)
        die("open %s: %s", errlog, strerror(errno));
    struct rusage ru;
    int status = -1;
    double t0 = now();
    pid_t pid = spawn(argv, errfd);
    if (pid > 0)
        while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
        }
    double t1 = now();
    close(errfd);
    if (secs)
        *secs = t1 - t0;
    if (maxrss_kb)
        *maxrss_kb = pid > 0 ? ru.ru_maxrss : 0;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show_failure(argv[0], argv, pid < 0 ? -1 : status, errlog);
        return -1;
    }
    return 0;
}

// argv for one runtime command: PATH --root ROOT ARGS... (NULL-terminated varargs).
struct argv_buf {
    char* v[32];
};

static struct argv_buf rt_argv(struct runtime* r, va_list ap)
{
    struct argv_buf b;
    int n = 0;
    b.v[n++] = (char*)r->path;
    b.v[n++] = "--root";
    b.v[n++] = r->root;
    const char* a;
    while ((a = va_arg(ap, const char*)) && n < 31)
        b.v[n++] = (char*)a;
    b.v[n] = NULL;
    return b;
}

static int rt_run(struct runtime* r, double* secs, long* rss, ...)
{
    va_list ap;
    va_start(ap, rss);
    struct argv_buf b = rt_argv(r, ap);
    va_end(ap);
    return run_argv(b.v, r->errlog, secs, rss);
}

static pid_t rt_spawn(struct runtime* r, int errfd, ...)
{
    va_list ap;
    va_start(ap, errfd);
    struct argv_buf b = rt_argv(r, ap);
    va_end(ap);
    return spawn(b.v, errfd);
}

static void rt_force_delete(struct runtime* r, const char* id)
{
    char* argv[] = { (char*)r->path, "--root", r->root, "delete", "--force", (char*)id, NULL };
    int errfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = spawn(argv, errfd);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    close(errfd);
}

static void record(int fig, int col, double v)
{
    if (g_nsamples[fig][col] < MAXRUNS)
        g_samples[fig][col][g_nsamples[fig][col]++] = v;
}

static int fig_on(int fig) { return (g_figmask >> fig) & 1; }

// ---- figure 1 (and the floor): `run` of true, a new container id each time ----
static void fig_run(void)
{
    for (int round = -g_warmup; round < g_runs; round++) {
        for (int i = 0; i < g_nrt; i++) {
            struct runtime* r = &g_rt[i];
            if (r->failed[F_RUN])
                continue;
            char id[64];
            snprintf(id, sizeof id, "bench-f1-%s-%d", round < 0 ? "w" : "r", round < 0 ? -round : round);
            double s;
            if (rt_run(r, &s, NULL, "run", "--bundle", g_bundle, id, NULL) < 0) {
                r->failed[F_RUN] = 1;
                rt_force_delete(r, id);
                continue;
            }
            if (round >= 0)
                record(F_RUN, i, s);
        }
        if (g_floor && !g_floor_failed) {
            char rootfs[4200];
            snprintf(rootfs, sizeof rootfs, "%s/rootfs", g_bundle);
            char* argv[] = { (char*)g_floor, rootfs, NULL };
            char errlog[4200];
            snprintf(errlog, sizeof errlog, "%s/floor.stderr", g_work);
            double s;
            if (run_argv(argv, errlog, &s, NULL) < 0)
                g_floor_failed = 1;
            else if (round >= 0)
                record(F_RUN, FLOOR, s);
        }
        reap_strays();
    }
}

// ---- figure 2: create; start; wait for exit; delete — four CLI calls, as containerd does ----
static pid_t read_pid_file(const char* path)
{
    FILE* f = fopen(path, "r");
    long pid = -1;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return (pid_t)pid;
}

static int lifecycle(struct runtime* r, const char* id, double step[NSTEP])
{
    char pidfile[4200];
    snprintf(pidfile, sizeof pidfile, "%s/%s.pid", g_work, r->name);
    unlink(pidfile);
    double t0 = now();
    if (rt_run(r, NULL, NULL, "create", "--bundle", g_bundle, "--pid-file", pidfile, id, NULL) < 0)
        return -1;
    double t1 = now();
    // Opened before start, so the pidfd names the init even if it is reaped early.
    pid_t pid = read_pid_file(pidfile);
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pidfd < 0) {
        fprintf(stderr, "harness: %s: no live init after create (pid %d): %s\n", r->name, pid, strerror(errno));
        return -1;
    }
    double t2 = now();
    if (rt_run(r, NULL, NULL, "start", id, NULL) < 0) {
        close(pidfd);
        return -1;
    }
    double t3 = now();
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    while (poll(&p, 1, 10000) < 0 && errno == EINTR) {
    }
    close(pidfd);
    if (!(p.revents & POLLIN)) {
        fprintf(stderr, "harness: %s: container %s did not exit within 10 s of start\n", r->name, id);
        return -1;
    }
    waitpid(pid, NULL, WNOHANG); // ours when the runtime's create left it to its subreaper
    double t4 = now();
    if (rt_run(r, NULL, NULL, "delete", id, NULL) < 0)
        return -1;
    double t5 = now();
    // The pid file read and pidfd_open (t1..t2) are the harness's own work, not timed.
    step[S_CREATE] = t1 - t0;
    step[S_START] = t3 - t2;
    step[S_WAIT] = t4 - t3;
    step[S_DELETE] = t5 - t4;
    return 0;
}

static void fig_lifecycle(void)
{
    for (int round = -g_warmup; round < g_runs; round++) {
        for (int i = 0; i < g_nrt; i++) {
            struct runtime* r = &g_rt[i];
            if (r->failed[F_LIFE])
                continue;
            char id[64];
            snprintf(id, sizeof id, "bench-f2-%s-%d", round < 0 ? "w" : "r", round < 0 ? -round : round);
            double step[NSTEP];
            if (lifecycle(r, id, step) < 0) {
                r->failed[F_LIFE] = 1;
                rt_force_delete(r, id);
                continue;
            }
            if (round >= 0) {
                record(F_LIFE, i, step[S_CREATE] + step[S_START] + step[S_WAIT] + step[S_DELETE]);
                for (int s = 0; s < NSTEP; s++)
                    g_steps[s][i][g_nsteps[s][i]++] = step[s];
            }
        }
        reap_strays();
    }
}

// ---- figure 3: exec of true into a running container (its init runs `sleep 1000`) ----
static void fig_exec(void)
{
    const char* id = "bench-f3-sleeper";
    for (int i = 0; i < g_nrt; i++) {
        struct runtime* r = &g_rt[i];
        if (rt_run(r, NULL, NULL, "create", "--bundle", g_sleep_bundle, id, NULL) < 0
            || rt_run(r, NULL, NULL, "start", id, NULL) < 0)
            r->failed[F_EXEC] = 1;
    }
    for (int round = -g_warmup; round < g_runs; round++) {
        for (int i = 0; i < g_nrt; i++) {
            struct runtime* r = &g_rt[i];
            if (r->failed[F_EXEC])
                continue;
            double s;
            if (rt_run(r, &s, NULL, "exec", id, "true", NULL) < 0) {
                r->failed[F_EXEC] = 1;
                continue;
            }
            if (round >= 0)
                record(F_EXEC, i, s);
        }
    }
    for (int i = 0; i < g_nrt; i++)
        rt_force_delete(&g_rt[i], id);
    // The sleepers were ours (re-parented at create); give them a moment to be reaped.
    for (int k = 0; k < 50 && waitpid(-1, NULL, WNOHANG) >= 0; k++)
        usleep(10000);
    reap_strays();
}

// ---- figure 4: g_batch `run`s of true with `inflight` at once: total wall time ----
static int batch(struct runtime* r, int inflight, const char* tag, double* secs)
{
    pid_t pids[64] = { 0 };
    char ids[64][64];
    int running = 0, launched = 0, done = 0, failed = 0;
    if (inflight > 64)
        inflight = 64;
    int errfd = open(r->errlog, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    double t0 = now();
    for (;;) {
        while (running < inflight && launched < g_batch && !failed) {
            int slot = 0;
            while (pids[slot] > 0)
                slot++;
            snprintf(ids[slot], sizeof ids[slot], "%s-%d", tag, launched);
            pid_t pid = rt_spawn(r, errfd, "run", "--bundle", g_bundle, ids[slot], NULL);
            if (pid < 0) {
                failed = 1;
                break;
            }
            pids[slot] = pid;
            running++;
            launched++;
        }
        if (running == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            die("waitpid: %s", strerror(errno));
        }
        for (int k = 0; k < inflight; k++)
            if (pids[k] == pid) {
                pids[k] = 0;
                running--;
                done++;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    char* argv[] = { (char*)r->path, "run", ids[k], NULL };
                    show_failure(r->name, argv, status, r->errlog);
                    failed = 1;
                }
            } // any other pid is a stray orphan: reaped and ignored
    }
    double t1 = now();
    close(errfd);
    *secs = t1 - t0;
    return failed || done < g_batch ? -1 : 0;
}

static void fig_parallel(void)
{
    static const int levels[2] = { 2, 8 };
    static const int figs[2] = { F_PAR2, F_PAR8 };
    int warm = g_warmup > 0 ? 1 : 0;
    for (int round = -warm; round < g_batch_runs; round++) {
        for (int l = 0; l < 2; l++) {
            if (!fig_on(figs[l]))
                continue;
            for (int i = 0; i < g_nrt; i++) {
                struct runtime* r = &g_rt[i];
                if (r->failed[figs[l]])
                    continue;
                char tag[64];
                snprintf(tag, sizeof tag, "bench-f4-%d-%s%d", levels[l], round < 0 ? "w" : "r", round < 0 ? -round : round);
                double s;
                if (batch(r, levels[l], tag, &s) < 0) {
                    r->failed[figs[l]] = 1;
                    continue;
                }
                if (round >= 0)
                    record(figs[l], i, s);
            }
            reap_strays();
        }
    }
}

// ---- figure 5: peak RSS of `create` as wait4 reports it ----
static void fig_rss(void)
{
    for (int round = -g_warmup; round < g_runs; round++) {
        for (int i = 0; i < g_nrt; i++) {
            struct runtime* r = &g_rt[i];
            if (r->failed[F_RSS])
                continue;
            char id[64];
            snprintf(id, sizeof id, "bench-f5-%s-%d", round < 0 ? "w" : "r", round < 0 ? -round : round);
            long rss;
            int rc = rt_run(r, NULL, &rss, "create", "--bundle", g_bundle, id, NULL);
            rt_force_delete(r, id);
            if (rc < 0) {
                r->failed[F_RSS] = 1;
                continue;
            }
            if (round >= 0)
                record(F_RSS, i, (double)rss);
        }
        reap_strays();
    }
}

// ---- statistics and the table ----
struct stats {
    int n;
    double med, min, max;
};

static int cmp_double(const void* a, const void* b)
{
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static struct stats stats_of(const double* v, int n)
{
    struct stats s = { n, 0, 0, 0 };
    if (n == 0)
        return s;
    double* c = malloc(sizeof(double) * (size_t)n);
    memcpy(c, v, sizeof(double) * (size_t)n);
    qsort(c, (size_t)n, sizeof(double), cmp_double);
    s.min = c[0];
    s.max = c[n - 1];
    s.med = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return s;
}

static const char* fig_label[NFIG] = {
    "1. `run` of `true`, default `runc spec` config (ms)",
    "2. `create`; `start`; wait for exit; `delete` (ms)",
    "3. `exec` of `true` into a running container (ms)",
    "4a. 50 × `run`, 2 in flight: total wall (ms)",
    "4b. 50 × `run`, 8 in flight: total wall (ms)",
    "5. peak RSS of `create` (KiB, wait4/`time -v`)",
};

static double scale_of(int fig) { return fig == F_RSS ? 1.0 : 1000.0; }

static void cell(char* out, size_t len, int fig, int col, int failed)
{
    struct stats s = stats_of(g_samples[fig][col], g_nsamples[fig][col]);
    double k = scale_of(fig);
    if (failed)
        snprintf(out, len, "failed");
    else if (s.n == 0)
        snprintf(out, len, "—");
    else if (fig == F_RSS)
        snprintf(out, len, "%.0f (%.0f–%.0f)", s.med, s.min, s.max);
    else
        snprintf(out, len, "%.2f (%.2f–%.2f)", s.med * k, s.min * k, s.max * k);
}

static int col_of(const char* name)
{
    for (int i = 0; i < g_nrt; i++)
        if (!strcmp(g_rt[i].name, name))
            return i;
    return -1;
}

static double median(int fig, int col)
{
    if (col < 0 || g_nsamples[fig][col] == 0 || (col < g_nrt && g_rt[col].failed[fig]))
        return 0;
    return stats_of(g_samples[fig][col], g_nsamples[fig][col]).med;
}

static void ratio(char* out, size_t len, double a, double b)
{
    if (a > 0 && b > 0)
        snprintf(out, len, "%.2f", a / b);
    else
        snprintf(out, len, "—");
}

static void print_table(FILE* f)
{
    int h = col_of("husk"), rc = col_of("runc"), cr = col_of("crun");
    fprintf(f, "| figure |");
    for (int i = 0; i < g_nrt; i++)
        fprintf(f, " %s median (min–max) |", g_rt[i].name);
    fprintf(f, " husk/crun | husk/runc | × floor (");
    for (int i = 0; i < g_nrt; i++)
        fprintf(f, "%s%s", i ? " / " : "", g_rt[i].name);
    fprintf(f, ") |\n|---|");
    for (int i = 0; i < g_nrt; i++)
        fprintf(f, "---|");
    fprintf(f, "---|---|---|\n");
    double floor_med = median(F_RUN, FLOOR);
    for (int fig = 0; fig < NFIG; fig++) {
        if (!fig_on(fig))
            continue;
        fprintf(f, "| %s |", fig_label[fig]);
        for (int i = 0; i < g_nrt; i++) {
            char c[128];
            cell(c, sizeof c, fig, i, g_rt[i].failed[fig]);
            fprintf(f, " %s |", c);
        }
        char r1[32], r2[32];
        ratio(r1, sizeof r1, median(fig, h), median(fig, cr));
        ratio(r2, sizeof r2, median(fig, h), median(fig, rc));
        fprintf(f, " %s | %s |", r1, r2);
        if (fig == F_RUN && floor_med > 0) {
            for (int i = 0; i < g_nrt; i++) {
                char c[32];
                ratio(c, sizeof c, median(fig, i), floor_med);
                fprintf(f, "%s%s", i ? " / " : " ", c);
            }
            fprintf(f, " |\n");
        } else {
            fprintf(f, " |\n");
        }
    }
    if (fig_on(F_RUN) && g_floor) {
        char c[128];
        cell(c, sizeof c, F_RUN, FLOOR, g_floor_failed);
        fprintf(f, "| 6. floor: `bench/floor.c` clone(pid,mnt,uts,ipc,net) + pivot_root + /proc + exec `true` (ms) | %s (same floor for all) |", c);
        for (int i = 1; i < g_nrt; i++)
            fprintf(f, " |");
        fprintf(f, " | | 1.00 |\n");
    }
}

static void print_steps(FILE* f)
{
    static const char* names[NSTEP] = { "create", "start", "wait for exit", "delete" };
    fprintf(f, "\nFigure 2 by step, median ms:\n\n| step |");
    for (int i = 0; i < g_nrt; i++)
        fprintf(f, " %s |", g_rt[i].name);
    fprintf(f, "\n|---|");
    for (int i = 0; i < g_nrt; i++)
        fprintf(f, "---|");
    fputc('\n', f);
    for (int s = 0; s < NSTEP; s++) {
        fprintf(f, "| %s |", names[s]);
        for (int i = 0; i < g_nrt; i++) {
            struct stats st = stats_of(g_steps[s][i], g_nsteps[s][i]);
            if (g_rt[i].failed[F_LIFE] || st.n == 0)
                fprintf(f, " — |");
            else
                fprintf(f, " %.2f |", st.med * 1000);
        }
        fputc('\n', f);
    }
}

static void print_targets(FILE* f)
{
    int h = col_of("husk"), cr = col_of("crun");
    fprintf(f, "\nTargets (medians of this run):\n\n");
    static const int time_figs[3] = { F_RUN, F_LIFE, F_EXEC };
    for (int k = 0; k < 3; k++) {
        int fig = time_figs[k];
        double a = median(fig, h), b = median(fig, cr);
        if (!fig_on(fig))
            continue;
        if (a > 0 && b > 0)
            fprintf(f, "- figure %d: husk <= 0.5 × crun: %s (husk/crun = %.2f)\n", fig + 1, a / b <= 0.5 ? "met" : "NOT met", a / b);
        else
            fprintf(f, "- figure %d: husk <= 0.5 × crun: no data\n", fig + 1);
    }
    for (int l = 0; l < 2; l++) {
        int fig = l ? F_PAR8 : F_PAR2;
        double a = median(fig, h), b = median(fig, cr);
        if (!fig_on(fig))
            continue;
        if (a > 0 && b > 0)
            fprintf(f, "- figure 4, %d in flight: husk throughput >= 2 × crun's: %s (husk %.1f/s, crun %.1f/s: %.2f×)\n",
                    l ? 8 : 2, b / a >= 2 ? "met" : "NOT met", g_batch / a, g_batch / b, b / a);
        else
            fprintf(f, "- figure 4, %d in flight: no data\n", l ? 8 : 2);
    }
    if (fig_on(F_RSS)) {
        double a = median(F_RSS, h), b = median(F_RSS, cr);
        if (a > 0 && b > 0)
            fprintf(f, "- figure 5: husk peak RSS <= crun's: %s (husk %.0f KiB, crun %.0f KiB)\n", a <= b ? "met" : "NOT met", a, b);
        else
            fprintf(f, "- figure 5: no data\n");
    }
}

static void write_raw(const char* path)
{
    static const char* fig_name[NFIG] = { "1-run", "2-lifecycle", "3-exec", "4-par2", "4-par8", "5-rss-kib" };
    FILE* f = fopen(path, "w");
    if (!f)
        die("open %s: %s", path, strerror(errno));
    fprintf(f, "figure\truntime\trun\tvalue\n");
    for (int fig = 0; fig < NFIG; fig++)
        for (int c = 0; c < NCOL; c++)
            for (int k = 0; k < g_nsamples[fig][c]; k++)
                fprintf(f, "%s\t%s\t%d\t%.9g\n", fig_name[fig], c == FLOOR ? "floor" : g_rt[c].name, k, g_samples[fig][c][k]);
    static const char* step_name[NSTEP] = { "2-create", "2-start", "2-wait", "2-delete" };
    for (int s = 0; s < NSTEP; s++)
        for (int c = 0; c < g_nrt; c++)
            for (int k = 0; k < g_nsteps[s][c]; k++)
                fprintf(f, "%s\t%s\t%d\t%.9g\n", step_name[s], g_rt[c].name, k, g_steps[s][c][k]);
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: harness --work DIR --bundle DIR --sleep-bundle DIR [--floor BIN] [--runs N]\n"
            "               [--warmup N] [--batch-runs N] [--batch N] [--figures 1,2,3,4,5] [--raw FILE]\n"
            "               NAME=PATH...   (runtimes, in the order they run in each round)\n");
    exit(2);
}

int main(int argc, char** argv)
{
    const char* raw = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--work") && v)
            g_work = argv[++i];
        else if (!strcmp(a, "--bundle") && v)
            g_bundle = argv[++i];
        else if (!strcmp(a, "--sleep-bundle") && v)
            g_sleep_bundle = argv[++i];
        else if (!strcmp(a, "--floor") && v)
            g_floor = argv[++i];
        else if (!strcmp(a, "--runs") && v)
            g_runs = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && v)
            g_warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--batch-runs") && v)
            g_batch_runs = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && v)
            g_batch = atoi(argv[++i]);
        else if (!strcmp(a, "--raw") && v)
            raw = argv[++i];
        else if (!strcmp(a, "--figures") && v) {
            g_figmask = 0;
            for (const char* p = argv[++i]; *p; p++)
                if (*p >= '1' && *p <= '5') {
                    int n = *p - '1';
                    g_figmask |= n == 3 ? (1u << F_PAR2 | 1u << F_PAR8) : n == 4 ? 1u << F_RSS : 1u << n;
                }
        } else if (strchr(a, '=') && g_nrt < MAXRT) {
            struct runtime* r = &g_rt[g_nrt++];
            char* eq = strchr(a, '=');
            r->name = strndup(a, (size_t)(eq - a));
            r->path = eq + 1;
        } else
            usage();
    }
    if (!g_work || !g_bundle || !g_sleep_bundle || g_nrt == 0)
        usage();
    if (g_runs < 1 || g_runs > MAXRUNS || g_batch_runs < 1 || g_batch_runs > MAXRUNS || g_batch < 1)
        die("runs must be 1..%d and batch >= 1", MAXRUNS);
    for (int i = 0; i < g_nrt; i++) {
        struct runtime* r = &g_rt[i];
        snprintf(r->root, sizeof r->root, "%s/%s-root", g_work, r->name);
        snprintf(r->errlog, sizeof r->errlog, "%s/%s.stderr", g_work, r->name);
        mkdir(r->root, 0700);
    }
    g_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);

    struct {
        int fig;
        void (*fn)(void);
        const char* what;
    } steps[] = {
        { F_RUN, fig_run, "figure 1 (run) and 6 (floor)" },
        { F_LIFE, fig_lifecycle, "figure 2 (create/start/wait/delete)" },
        { F_EXEC, fig_exec, "figure 3 (exec)" },
        { F_PAR2, fig_parallel, "figure 4 (50 runs, 2 and 8 in flight)" },
        { F_RSS, fig_rss, "figure 5 (peak RSS of create)" },
    };
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        int on = fig_on(steps[k].fig) || (steps[k].fig == F_PAR2 && fig_on(F_PAR8));
        if (!on)
            continue;
        double t0 = now();
        fprintf(stderr, "harness: %s ...", steps[k].what);
        steps[k].fn();
        fprintf(stderr, " %.1f s\n", now() - t0);
    }
    print_table(stdout);
    if (fig_on(F_LIFE))
        print_steps(stdout);
    print_targets(stdout);
    int any_failed = g_floor_failed;
    for (int i = 0; i < g_nrt; i++)
        for (int fig = 0; fig < NFIG; fig++)
            if (fig_on(fig) && g_rt[i].failed[fig]) {
                printf("\nNote: %s failed in figure %s; its error is shown on stderr above.\n", g_rt[i].name, fig_label[fig]);
                any_failed = 1;
            }
    if (raw)
        write_raw(raw);
    return any_failed ? 3 : 0;
}
