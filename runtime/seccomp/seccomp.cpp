// linux.seccomp (OCI runtime-spec, config-linux "Seccomp") -> classic BPF, through libseccomp,
// and the bare seccomp(2) that installs it. Owns the profile vocabulary (actions, operators,
// architectures, flags), its JSON-path errors and the kernel probes for filter flags. It is
// the only user of libseccomp in husk; it touches no process state except in load().
#include "runtime/seccomp/seccomp.hpp"

#include <algorithm>

#include "common/fd.hpp"
#include "common/log.hpp"

#include <nlohmann/json.hpp>
#include <seccomp.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <linux/seccomp.h>
#include <memory>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <fcntl.h>
#include <optional>
#include <sys/socket.h>
#include <sys/un.h>
#include <cstring>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

// Older kernel headers lack it; the value is fixed ABI (Linux 5.19).
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace husk::seccomp {

namespace {

using json = nlohmann::json;

const std::string root_path = "linux.seccomp";

// Linux system calls take at most six arguments; libseccomp refuses higher indexes with a
// bare EINVAL, so they are caught here with a path instead.
constexpr unsigned max_syscall_args = 6;

// Past this many rules libseccomp's binary-tree layout makes the filter faster to run. Below
// it the linear layout is as good, and libseccomp 2.5.4 mis-generates the tree for an empty
// rule set, so small profiles keep the default (runc draws the line at the same place).
constexpr size_t optimize_threshold = 32;

// ---- vocabulary ----------------------------------------------------------------------------

struct ActionName {
    std::string_view name;
    uint32_t action; // for ERRNO/TRACE: without the errno in the low 16 bits
    bool takes_errno;
};

// SCMP_ACT_KILL is the thread-killing action, as in libseccomp's own header and in runc.
constexpr ActionName action_names[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
};

struct OperatorName {
    std::string_view name;
    scmp_compare op;
};

constexpr OperatorName operator_names[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

struct FlagName {
    std::string_view name;
    unsigned int flag;
};

// TSYNC is accepted and has no effect (as in runc): the filter is loaded by the container
// init, which has a single thread, and TSYNC cannot be combined with a notify listener.
constexpr FlagName flag_names[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", 0},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

template <typename Table>
auto find_name(const Table& table, std::string_view name) -> decltype(&table[0])
{
    for (const auto& entry : table)
        if (entry.name == name)
            return &entry;
    return nullptr;
}

// "SCMP_ARCH_X86_64" -> libseccomp's token, through libseccomp's own names ("x86_64"), so
// every architecture this libseccomp knows is accepted and none that it does not.
uint32_t arch_token(std::string_view name)
{
    constexpr std::string_view prefix = "SCMP_ARCH_";
    if (!name.starts_with(prefix) || name.size() == prefix.size())
        return 0;
    std::string lower;
    for (char c : name.substr(prefix.size())) {
        if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
              c == '_'))
            return 0;
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (lower == "native")
        return 0;
    return seccomp_arch_resolve_name(lower.c_str());
}

// Whether this kernel knows a filter flag. The probe passes no program: a kernel that knows
// every flag gets as far as copying it in and fails with EFAULT, one that does not fails
// with EINVAL first. Nothing is installed either way.
bool kernel_has_flag(unsigned int flag)
{
    unsigned int probe = flag;
    // The kernel refuses WAIT_KILLABLE_RECV without a listener before looking further.
    if (flag & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
        probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, probe, nullptr);
    return rc < 0 && errno == EFAULT;
}

// ---- JSON reads with paths ------------------------------------------------------------------

std::string join(const std::string& path, std::string_view key) { return path + "." + std::string(key); }

std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

std::unexpected<Error> bad(const std::string& path, std::string_view problem)
{
    return fail(path + ": " + std::string(problem));
}

// Absent and null mean the same, as for every other part of config.json.
const json* field(const json& obj, const char* key)
{
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return nullptr;
    return &*it;
}

Result<std::string> as_string(const json& v, const std::string& path)
{
    if (!v.is_string())
        return bad(path, "expected a string");
    const auto& s = v.get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos)
        return bad(path, "contains a NUL byte");
    return s;
}

Result<uint64_t> as_uint(const json& v, const std::string& path, uint64_t max)
{
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
        return bad(path, "expected an unsigned integer");
    auto u = v.get<uint64_t>();
    if (u > max)
        return bad(path, "expected an integer between 0 and " + std::to_string(max) + ", got " +
                             std::to_string(u));
    return u;
}

Result<const json*> array_field(const json& obj, const char* key, const std::string& path)
{
    const json* v = field(obj, key);
    if (v && !v->is_array())
        return bad(join(path, key), "expected an array");
    return v;
}

// ---- the profile, parsed and checked ---------------------------------------------------------

struct Rule {
    std::string path; // linux.seccomp.syscalls[i]
    std::vector<std::string> names;
    std::vector<std::string> name_paths;
    uint32_t action = 0;
    std::vector<scmp_arg_cmp> args;
};

struct Profile {
    uint32_t default_action = 0;
    std::vector<uint32_t> archs;
    unsigned int flags = 0;
    std::vector<Rule> rules;
    bool uses_notify = false;
    std::string listener_path;
    std::string listener_metadata;
};

// An action and its errno (errnoRet / defaultErrnoRet) as one libseccomp action value.
Result<uint32_t> read_action(const json& obj, const char* action_key, const char* errno_key,
                             const std::string& path)
{
    const std::string action_path = join(path, action_key);
    const json* a = field(obj, action_key);
    if (!a)
        return bad(action_path, "missing");
    std::string name = TRY(as_string(*a, action_path));
    if (name.empty())
        return bad(action_path, "missing");
    const ActionName* action = find_name(action_names, name);
    if (!action)
        return bad(action_path, "unknown action " + name);

    const json* e = field(obj, errno_key);
    if (!action->takes_errno) {
        // The spec requires an error here rather than silently dropping the errno.
        if (e)
            return bad(join(path, errno_key), "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not " + name);
        return action->action;
    }
    // The errno travels in the low 16 bits of the filter's return value.
    uint64_t err = EPERM;
    if (e)
        err = TRY(as_uint(*e, join(path, errno_key), 0xffff));
    return action->action | static_cast<uint32_t>(err);
}

Result<scmp_arg_cmp> read_arg(const json& arg, const std::string& path)
{
    if (!arg.is_object())
        return bad(path, "expected an object");
    scmp_arg_cmp cmp{};

    const json* idx = field(arg, "index");
    if (!idx)
        return bad(join(path, "index"), "missing");
    cmp.arg = static_cast<unsigned>(TRY(as_uint(*idx, join(path, "index"), max_syscall_args - 1)));

    const json* value = field(arg, "value");
    if (!value)
        return bad(join(path, "value"), "missing");
    // For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the value to compare with:
    // exactly libseccomp's datum_a and datum_b.
    cmp.datum_a = TRY(as_uint(*value, join(path, "value"), UINT64_MAX));
    if (const json* two = field(arg, "valueTwo"))
        cmp.datum_b = TRY(as_uint(*two, join(path, "valueTwo"), UINT64_MAX));

    const json* op = field(arg, "op");
    if (!op)
        return bad(join(path, "op"), "missing");
    std::string op_name = TRY(as_string(*op, join(path, "op")));
    const OperatorName* o = find_name(operator_names, op_name);
    if (!o)
        return bad(join(path, "op"), "unknown operator " + op_name);
    cmp.op = o->op;
    return cmp;
}

Result<Rule> read_rule(const json& entry, const std::string& path)
{
    if (!entry.is_object())
        return bad(path, "expected an object");
    Rule rule;
    rule.path = path;

    const std::string names_path = join(path, "names");
    const json* names = field(entry, "names");
    if (!names)
        return bad(names_path, "missing");
    if (!names->is_array())
        return bad(names_path, "expected an array of strings");
    if (names->empty())
        return bad(names_path, "must name at least one syscall");
    for (size_t i = 0; i < names->size(); i++) {
        std::string name_path = index(names_path, i);
        std::string name = TRY(as_string((*names)[i], name_path));
        if (name.empty())
            return bad(name_path, "empty syscall name");
        rule.names.push_back(std::move(name));
        rule.name_paths.push_back(std::move(name_path));
    }

    rule.action = TRY(read_action(entry, "action", "errnoRet", path));

    if (const json* args = TRY(array_field(entry, "args", path))) {
        for (size_t i = 0; i < args->size(); i++)
            rule.args.push_back(TRY(read_arg((*args)[i], index(join(path, "args"), i))));
    }
    return rule;
}

Result<> read_archs(const json& doc, Profile& p)
{
    const json* archs = TRY(array_field(doc, "architectures", root_path));
    if (!archs)
        return {};
    for (size_t i = 0; i < archs->size(); i++) {
        std::string path = index(join(root_path, "architectures"), i);
        std::string name = TRY(as_string((*archs)[i], path));
        uint32_t token = arch_token(name);
        if (token == 0)
            return bad(path, "unknown architecture " + name);
        p.archs.push_back(token);
    }
    return {};
}

Result<> read_flags(const json& doc, Profile& p)
{
    const json* flags = TRY(array_field(doc, "flags", root_path));
    if (!flags)
        return {};
    for (size_t i = 0; i < flags->size(); i++) {
        std::string path = index(join(root_path, "flags"), i);
        std::string name = TRY(as_string((*flags)[i], path));
        const FlagName* f = find_name(flag_names, name);
        if (!f)
            return bad(path, "unknown flag " + name);
        if (f->flag != 0 && !kernel_has_flag(f->flag))
            return bad(path, name + " is not supported by this kernel");
        p.flags |= f->flag;
    }
    return {};
}

// The whole profile, or the first problem with its path. nullopt: no filter at all.
Result<std::optional<Profile>> read_profile(const json& doc)
{
    if (!doc.is_object())
        return bad(root_path, "expected an object");
    const json* syscalls = TRY(array_field(doc, "syscalls", root_path));
    const json* default_action = field(doc, "defaultAction");
    // runc takes a profile with neither as "no seccomp"; configs written for it rely on that.
    bool no_default = !default_action || (default_action->is_string() && default_action->get_ref<const std::string&>().empty());
    if (no_default && (!syscalls || syscalls->empty()))
        return std::nullopt;

    Profile p;
    p.default_action = TRY(read_action(doc, "defaultAction", "defaultErrnoRet", root_path));
    // A notifying default would also catch the syscalls the init makes to hand the listener
    // over, so the container could never start.
    if (p.default_action == SCMP_ACT_NOTIFY)
        return bad(join(root_path, "defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action");

    TRY(read_archs(doc, p));
    TRY(read_flags(doc, p));

    if (const json* v = field(doc, "listenerPath"))
        p.listener_path = TRY(as_string(*v, join(root_path, "listenerPath")));
    if (const json* v = field(doc, "listenerMetadata"))
        p.listener_metadata = TRY(as_string(*v, join(root_path, "listenerMetadata")));
    if (!p.listener_metadata.empty() && p.listener_path.empty())
        return bad(join(root_path, "listenerMetadata"), "set without linux.seccomp.listenerPath");

    if (syscalls) {
        for (size_t i = 0; i < syscalls->size(); i++) {
            Rule rule = TRY(read_rule((*syscalls)[i], index(join(root_path, "syscalls"), i)));
            if (rule.action == SCMP_ACT_NOTIFY) {
                if (p.listener_path.empty())
                    return bad(join(rule.path, "action"), "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
                // The process sends the listener fd to husk with sendmsg right after loading
                // the filter, then reports with write: notifying either would wait for an
                // agent that never gets the fd.
                for (size_t n = 0; n < rule.names.size(); n++)
                    if (rule.names[n] == "write" || rule.names[n] == "sendmsg")
                        return bad(rule.name_paths[n], "SCMP_ACT_NOTIFY cannot be used for " + rule.names[n]);
                p.uses_notify = true;
            }
            p.rules.push_back(std::move(rule));
        }
    }

    if ((p.flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) && !p.uses_notify) {
        // It only changes how a listener's requests wait; the kernel refuses it without one.
        log::debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no SCMP_ACT_NOTIFY rule");
        p.flags &= ~static_cast<unsigned int>(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    }
    return p;
}

// ---- compiling with libseccomp ---------------------------------------------------------------

struct FilterRelease {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterRelease>;

Result<> add_one(scmp_filter_ctx ctx, const Rule& rule, const std::string& name, int nr,
                 const scmp_arg_cmp* args, unsigned count)
{
    int rc = seccomp_rule_add_array(ctx, rule.action, nr, count, args);
    if (rc == 0)
        return {};
    return fail_errno(-rc, rule.path + ": add rule for " + name);
}

// Adds one syscall's rule. Several conditions on one argument cannot be ANDed in one
// libseccomp rule, so then, as runc does, every condition becomes a rule of its own and the
// conditions are ORed; otherwise they are ANDed in one rule.
Result<size_t> add_rule(scmp_filter_ctx ctx, const Rule& rule, const std::string& name, int nr)
{
    if (rule.args.empty()) {
        TRY(add_one(ctx, rule, name, nr, nullptr, 0));
        return 1;
    }
    std::array<unsigned, max_syscall_args> per_index{};
    bool repeated = false;
    for (const auto& a : rule.args)
        repeated |= ++per_index[a.arg] > 1;
    if (!repeated) {
        TRY(add_one(ctx, rule, name, nr, rule.args.data(), static_cast<unsigned>(rule.args.size())));
        return 1;
    }
    for (const auto& a : rule.args)
        TRY(add_one(ctx, rule, name, nr, &a, 1));
    return rule.args.size();
}

Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx)
{
    Fd mem(::memfd_create("husk-seccomp-bpf", MFD_CLOEXEC));
    if (!mem)
        return fail_errno("memfd_create for the seccomp filter");
    int rc = seccomp_export_bpf(ctx, mem.get());
    if (rc < 0)
        return fail_errno(-rc, "export the seccomp filter");
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    if (size < 0)
        return fail_errno("seek the exported seccomp filter");
    if (size % static_cast<off_t>(sizeof(sock_filter)) != 0)
        return fail("export the seccomp filter: " + std::to_string(size) +
                    " bytes is not a whole number of BPF instructions");

    std::vector<sock_filter> code(static_cast<size_t>(size) / sizeof(sock_filter));
    auto* out = reinterpret_cast<char*>(code.data());
    off_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(mem.get(), out + done, static_cast<size_t>(size - done), done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno("read the exported seccomp filter");
        if (n == 0)
            return fail("read the exported seccomp filter: short read");
        done += n;
    }
    return code;
}

Result<Program> build(const Profile& p)
{
    Filter filter(seccomp_init(p.default_action));
    if (!filter)
        return bad(join(root_path, "defaultAction"), "libseccomp refused the action (not supported here?)");
    scmp_filter_ctx ctx = filter.get();

    // husk sets no_new_privs itself (only when process.noNewPrivileges asks for it) and
    // loads the filter itself, from a single-threaded init.
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
    if (rc < 0)
        return fail_errno(-rc, "set libseccomp filter attributes");

    // Architectures before rules, so that every rule is generated for each of them.
    for (size_t i = 0; i < p.archs.size(); i++) {
        rc = seccomp_arch_add(ctx, p.archs[i]);
        if (rc < 0 && rc != -EEXIST) // the native one is always there already
            return fail_errno(-rc, index(join(root_path, "architectures"), i) + ": add architecture");
    }

    size_t added = 0;
    for (const Rule& rule : p.rules) {
        // libseccomp refuses a rule that only repeats the default; it changes nothing anyway.
        if (rule.action == p.default_action)
            continue;
        for (size_t n = 0; n < rule.names.size(); n++) {
            const std::string& name = rule.names[n];
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) {
                log::debug("seccomp: unknown syscall \"" + name + "\" (" + rule.name_paths[n] + ") skipped");
                continue;
            }
            added += TRY(add_rule(ctx, rule, name, nr));
        }
    }

    if (added > optimize_threshold) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        if (rc < 0)
            log::debug("seccomp: binary-tree optimization unavailable: " + Error(-rc, "").message());
    }

    Program program;
    program.code = TRY(export_bpf(ctx));
    if (program.code.size() > BPF_MAXINSNS)
        return bad(root_path, "the compiled filter has " + std::to_string(program.code.size()) +
                                  " instructions, more than the kernel's limit of " +
                                  std::to_string(BPF_MAXINSNS));
    program.flags = p.flags;
    program.needs_listener = p.uses_notify;
    program.listener_path = p.listener_path;
    program.listener_metadata = p.listener_metadata;
    return program;
}

Result<Program> compile_text(std::string_view text)
{
    if (text.empty())
        return Program{};
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded())
        return bad(root_path, "invalid JSON");
    auto profile = TRY(read_profile(doc));
    if (!profile)
        return Program{};
    return build(*profile);
}

} // namespace

Result<Program> compile(std::string_view seccomp_json)
{
    try {
        return compile_text(seccomp_json);
    } catch (const std::exception& e) {
        // Allocation failures and the like: the module promises not to throw.
        return fail(root_path + ": " + e.what());
    }
}

Result<int> load(const Program& program)
{
    if (program.code.empty())
        return -1;
    struct sock_fprog prog {};
    prog.len = static_cast<unsigned short>(program.code.size());
    prog.filter = const_cast<sock_filter*>(program.code.data());
    unsigned int flags = program.flags;
    if (program.needs_listener)
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0)
        return fail_errno("seccomp filter"); // short enough to need no allocation
    return program.needs_listener ? static_cast<int>(rc) : -1;
}

Result<> send_to_listener(const Program& program, int listener_fd, pid_t pid, std::string_view state_json)
{
    const std::string& path = program.listener_path;
    std::string what = "seccomp listener " + path;
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail(what + ": the path must be 1 to " + std::to_string(sizeof addr.sun_path - 1) + " bytes");
    std::memcpy(addr.sun_path, path.data(), path.size());

    json state = json::parse(state_json.begin(), state_json.end(), nullptr, false);
    if (state.is_discarded())
        return fail(what + ": bad container state");
    json message = {
        {"ociVersion", "1.1.0"},
        {"fds", json::array({"seccompFd"})},
        {"pid", pid},
        {"metadata", program.listener_metadata},
        {"state", std::move(state)},
    };
    std::string text = message.dump();

    Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock)
        return fail_errno(what + ": socket");
    int rc;
    while ((rc = ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr)) < 0 && errno == EINTR) {
    }
    if (rc < 0)
        return fail_errno(what + ": connect");

    // The fd goes with the first bytes; the rest of a long state follows on the stream.
    ssize_t n = send_with_fd(sock.get(), text.data(), text.size(), listener_fd);
    if (n <= 0)
        return fail_errno(what + ": send the container process state");
    for (size_t done = static_cast<size_t>(n); done < text.size();) {
        ssize_t m = ::send(sock.get(), text.data() + done, text.size() - done, MSG_NOSIGNAL);
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0)
            return fail_errno(what + ": send the container process state");
        done += static_cast<size_t>(m);
    }
    return {};
}

namespace {

// The GNU build id of the running program (hex; empty if it has none): a new husk build,
// whose compiler may emit a different filter for the same text, never reuses old entries.
std::string build_id()
{
    std::string out;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
            auto& id = *static_cast<std::string*>(data);
            for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_NOTE)
                    continue;
                const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
                const char* end = p + ph.p_memsz;
                while (p + sizeof(ElfW(Nhdr)) <= end) {
                    const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
                    const char* name = p + sizeof *n;
                    const char* desc = name + ((n->n_namesz + 3) & ~3U);
                    if (desc + n->n_descsz > end)
                        break;
                    if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                        static const char hex[] = "0123456789abcdef";
                        for (unsigned j = 0; j < n->n_descsz; j++) {
                            auto b = static_cast<unsigned char>(desc[j]);
                            id += hex[b >> 4];
                            id += hex[b & 15];
                        }
                        return 1;
                    }
                    p = desc + ((n->n_descsz + 3) & ~3U);
                }
            }
            return 1; // the first object is the program itself
        },
        &out);
    return out;
}

// What a compiled program depends on: the profile text, the libseccomp version, the kernel
// release and machine, and husk's own build, each followed by a NUL (JSON text cannot
// contain one, so "ab"+"c" != "a"+"bc").
std::string key_material(std::string_view seccomp_json)
{
    std::string out;
    auto add = [&](std::string_view s) {
        out.append(s);
        out.push_back('\0');
    };
    add(seccomp_json);
    const scmp_version* v = seccomp_version();
    if (v)
        add(std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro));
    struct utsname u {};
    if (::uname(&u) == 0) {
        add(u.release);
        add(u.machine);
    }
    static const std::string husk_build = build_id();
    add(husk_build);
    return out;
}

std::string fnv1a_hex(std::string_view bytes)
{
    uint64_t hash = 0xcbf29ce484222325ULL; // FNV-1a 64 offset basis
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= 0x100000001b3ULL; // FNV-1a 64 prime
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
    return out;
}

// A cache entry: magic, six 32-bit counts and flags, then the key material, the listener
// path and metadata, and the instructions. Native byte order: the cache never leaves the
// machine (the machine is part of the key).
constexpr char cache_magic[8] = {'H', 'U', 'S', 'K', 'S', 'C', 'F', '1'};
constexpr size_t cache_max_entries = 256;
constexpr size_t cache_max_bytes = 16 << 20;

struct EntryHeader {
    char magic[8];
    uint32_t material_len, flags, needs_listener, path_len, metadata_len, insns;
};

bool private_to_us(const struct stat& st, bool want_dir)
{
    bool kind = want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
    return kind && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

std::optional<Program> read_entry(int dir_fd, const std::string& name, const std::string& material)
{
    Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0 || !private_to_us(st, false) || st.st_size < static_cast<off_t>(sizeof(EntryHeader))
        || st.st_size > static_cast<off_t>(cache_max_bytes))
        return std::nullopt;
    std::string bytes(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::pread(fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return std::nullopt;
        done += static_cast<size_t>(n);
    }
    EntryHeader h;
    std::memcpy(&h, bytes.data(), sizeof h);
    uint64_t want = sizeof h + uint64_t(h.material_len) + h.path_len + h.metadata_len + uint64_t(h.insns) * sizeof(sock_filter);
    if (std::memcmp(h.magic, cache_magic, sizeof cache_magic) != 0 || want != bytes.size() || h.insns == 0
        || h.insns > BPF_MAXINSNS)
        return std::nullopt;
    std::string_view rest(bytes);
    rest.remove_prefix(sizeof h);
    if (rest.substr(0, h.material_len) != material)
        return std::nullopt;
    rest.remove_prefix(h.material_len);
    Program p;
    p.flags = h.flags;
    p.needs_listener = h.needs_listener != 0;
    p.listener_path = std::string(rest.substr(0, h.path_len));
    rest.remove_prefix(h.path_len);
    p.listener_metadata = std::string(rest.substr(0, h.metadata_len));
    rest.remove_prefix(h.metadata_len);
    p.code.resize(h.insns);
    std::memcpy(p.code.data(), rest.data(), rest.size());
    return p;
}

void write_entry(int dir_fd, const std::string& name, const std::string& material, const Program& p)
{
    size_t entries = 0;
    if (DIR* d = ::fdopendir(::dup(dir_fd))) {
        while (dirent* e = ::readdir(d))
            entries += e->d_name[0] != '.';
        ::closedir(d);
    }
    if (entries >= cache_max_entries) {
        log::debug("seccomp cache: full, not adding " + name);
        return;
    }
    EntryHeader h {};
    std::memcpy(h.magic, cache_magic, sizeof cache_magic);
    h.material_len = static_cast<uint32_t>(material.size());
    h.flags = p.flags;
    h.needs_listener = p.needs_listener;
    h.path_len = static_cast<uint32_t>(p.listener_path.size());
    h.metadata_len = static_cast<uint32_t>(p.listener_metadata.size());
    h.insns = static_cast<uint32_t>(p.code.size());
    std::string bytes(reinterpret_cast<const char*>(&h), sizeof h);
    bytes += material;
    bytes += p.listener_path;
    bytes += p.listener_metadata;
    bytes.append(reinterpret_cast<const char*>(p.code.data()), p.code.size() * sizeof(sock_filter));
    if (bytes.size() > cache_max_bytes)
        return;

    // Written whole under a temporary name, then renamed: a reader sees all or nothing.
    std::string tmp = "." + name + "." + std::to_string(::getpid());
    Fd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        log::debug("seccomp cache: create " + tmp + ": " + std::strerror(errno));
        return;
    }
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += static_cast<size_t>(n);
    }
    if (done != bytes.size() || ::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) {
        log::debug("seccomp cache: write " + name + ": " + std::strerror(errno));
        ::unlinkat(dir_fd, tmp.c_str(), 0);
    }
}

Fd open_cache_dir(const std::string& dir)
{
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
        log::debug("seccomp cache: mkdir " + dir + ": " + std::strerror(errno));
        return Fd();
    }
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) < 0 || !private_to_us(st, true)) {
        log::debug("seccomp cache: " + dir + " is not a private directory of ours; not used");
        return Fd();
    }
    return fd;
}

} // namespace

Result<Program> compile_cached(std::string_view seccomp_json, const std::string& dir)
{
    if (dir.empty() || seccomp_json.empty())
        return compile(seccomp_json);
    std::string material = key_material(seccomp_json);
    std::string name = fnv1a_hex(material);
    Fd dir_fd = open_cache_dir(dir);
    if (!dir_fd)
        return compile(seccomp_json);
    if (auto hit = read_entry(dir_fd.get(), name, material)) {
        log::debug("seccomp cache: hit " + name);
        return std::move(*hit);
    }
    Program p = TRY(compile(seccomp_json));
    // Profiles that compile to nothing are cheap to redo; only filters are kept.
    if (!p.code.empty())
        write_entry(dir_fd.get(), name, material, p);
    return p;
}

std::string default_cache_dir()
{
    if (const char* env = std::getenv("HUSK_SECCOMP_CACHE"))
        return std::string_view(env) == "off" ? std::string() : std::string(env);
    if (::geteuid() == 0)
        return "/run/husk-seccomp";
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    return xdg && *xdg == '/' ? std::string(xdg) + "/husk-seccomp" : std::string();
}

std::string cache_key(std::string_view seccomp_json)
{
    return fnv1a_hex(key_material(seccomp_json));
}

Supported supported()
{
    Supported out;
    for (const auto& a : action_names)
        out.actions.emplace_back(a.name);
    for (const auto& o : operator_names)
        out.operators.emplace_back(o.name);
    static const char* archs[] = { "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32",
                                   "MIPSEL", "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390",
                                   "S390X", "PARISC", "PARISC64", "RISCV64" };
    for (const char* a : archs)
        if (arch_token(std::string("SCMP_ARCH_") + a) != 0)
            out.archs.push_back(std::string("SCMP_ARCH_") + a);
    std::sort(out.actions.begin(), out.actions.end());
    std::sort(out.operators.begin(), out.operators.end());
    return out;
}

} // namespace husk::seccomp
