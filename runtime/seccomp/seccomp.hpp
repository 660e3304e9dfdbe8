// linux.seccomp -> a classic-BPF program, and loading that program. Compiling (JSON parsing,
// validation with JSON-path errors, libseccomp) happens in husk before the container init is
// cloned; loading is a bare seccomp(2) the init makes right before execve. libseccomp and the
// JSON library stay inside seccomp.cpp: nothing here names them.
#pragma once

#include "common/error.hpp"

#include <linux/filter.h>
#include <string>
#include <sys/types.h>
#include <string_view>
#include <vector>

namespace husk::seccomp {

struct Program {
    // The filter, ready for SECCOMP_SET_MODE_FILTER. Empty means "no filter": linux.seccomp
    // was absent, or named neither a defaultAction nor any syscalls (which runc also takes
    // as seccomp disabled).
    std::vector<struct sock_filter> code;
    // SECCOMP_FILTER_FLAG_* from linux.seccomp.flags, already checked against this kernel.
    // NEW_LISTENER is not in here: load() adds it when needs_listener.
    unsigned int flags = 0;
    // Some rule uses SCMP_ACT_NOTIFY: load() asks for a listener fd, which the caller hands
    // to the agent at listener_path.
    bool needs_listener = false;
    std::string listener_path;
    std::string listener_metadata;
};

// Parses linux.seccomp (the object as JSON text; empty text means absent) and compiles it.
// Errors name the JSON path: "linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO".
// Syscall names this libseccomp does not know are skipped (logged at debug level), as runc
// does, so one profile serves older and newer kernels.
Result<Program> compile(std::string_view seccomp_json);

// Installs the program in the calling thread with seccomp(2). Allocates nothing on success:
// it runs in the container init after clone. No no_new_privs is set here; without it the
// caller needs CAP_SYS_ADMIN. Returns the notify listener fd when program.needs_listener,
// else -1 (also for an empty program, which loads nothing).
Result<int> load(const Program& program);

// Hands a notify listener fd to the agent listening at program.listener_path: one message
// on a new AF_UNIX stream connection, the fd attached (SCM_RIGHTS), whose bytes are the
// runtime-spec "container process state" JSON: ociVersion, fds ["seccompFd"], pid (in
// husk's pid namespace), metadata (listenerMetadata) and state (`state_json`, the
// container's state object).
Result<> send_to_listener(const Program& program, int listener_fd, pid_t pid, std::string_view state_json);

// compile() through a cache of compiled programs kept in `dir` (made, mode 0700, when
// missing): a hit skips the JSON parse and libseccomp entirely. An entry is named by
// cache_key() and holds everything the key is computed from, compared byte for byte when it
// is read, so a hash collision can only cost a miss. Entries that are broken, not owned by
// us, writable by others, or not regular files are ignored; failing to write one is only
// logged. An empty `dir` means no cache. At most 256 entries are written.
Result<Program> compile_cached(std::string_view seccomp_json, const std::string& dir);

// The cache husk uses: $HUSK_SECCOMP_CACHE when set ("off": none), else /run/husk-seccomp
// for root and $XDG_RUNTIME_DIR/husk-seccomp for others (none without XDG_RUNTIME_DIR).
// On tmpfs, so a new kernel or library after a reboot starts it afresh.
std::string default_cache_dir();

// A key for caching compiled programs: 16 hex digits of a 64-bit FNV-1a hash over the JSON
// text, the libseccomp version, the kernel release and machine, and husk's GNU build id (a
// compiled program is only valid for the same inputs, library, kernel and husk build). The
// hash only names entries; compile_cached compares the inputs themselves.
std::string cache_key(std::string_view seccomp_json);

// What this build accepts, for `husk features`.
struct Supported {
    std::vector<std::string> actions;
    std::vector<std::string> operators;
    std::vector<std::string> archs;
};
Supported supported();

} // namespace husk::seccomp
