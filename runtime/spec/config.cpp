// config.json -> husk::spec::Config. Owns the OCI runtime-spec 1.1 (Linux) parsing and its
// validation, the JSON-path error messages, and the name tables shared with `features`
// (capabilities, rlimits, namespaces, mount options). It reads BUNDLE/config.json and
// nothing else: no mounts, no checks against the running host.
#include "runtime/spec/config.hpp"

#include "common/fs.hpp"
#include "common/json_error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <concepts>
#include <limits>
#include <sys/mount.h>
#include <sys/resource.h>

namespace husk::spec {

namespace {

using json = nlohmann::json;

// ---- name tables -------------------------------------------------------------------------

// Indexed by capability number: CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40.
constexpr std::string_view capability_names[] = {
    "CAP_CHOWN",          "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",         "CAP_KILL",         "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",      "CAP_NET_RAW",      "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",     "CAP_SYS_RAWIO",    "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",      "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",   "CAP_SYS_TIME",     "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",          "CAP_AUDIT_WRITE",  "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",   "CAP_MAC_ADMIN",    "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",  "CAP_AUDIT_READ",   "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

struct RlimitName {
    std::string_view name;
    int resource;
};

constexpr RlimitName rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

// In NamespaceType order.
constexpr std::string_view namespace_names[] = {
    "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
};

// Mount options that are mount(2) flags: `clear` options ("rw", "suid", ...) undo a flag.
// The same vocabulary runc accepts, so configs written for runc mean the same here.
struct MountFlagOption {
    std::string_view name;
    bool clear;
    unsigned long flag;
};

constexpr MountFlagOption mount_flag_options[] = {
    {"acl", false, MS_POSIXACL},
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noacl", true, MS_POSIXACL},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"symfollow", true, MS_NOSYMFOLLOW},
    {"sync", false, MS_SYNCHRONOUS},
};

struct PropagationOption {
    std::string_view name;
    unsigned long flags;
};

// Also the values of linux.rootfsPropagation ("" there means: the default).
constexpr PropagationOption propagation_options[] = {
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

// Options other runtimes know that need machinery husk does not have yet (mount_setattr for
// the recursive ones, tmpfs copy-up). Passing them on as filesystem data would make a bind
// mount silently ignore them ("rro" leaving a mount writable), so they are refused instead.
constexpr std::string_view unsupported_mount_options[] = {
    "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
    "rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime",
    "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow", "tmpcopyup",
    "idmap", "ridmap",
};

std::optional<unsigned long> propagation_from_name(std::string_view name)
{
    for (const auto& p : propagation_options)
        if (p.name == name)
            return p.flags;
    return std::nullopt;
}

std::optional<NamespaceType> namespace_from_name(std::string_view name)
{
    for (size_t i = 0; i < std::size(namespace_names); ++i)
        if (namespace_names[i] == name)
            return static_cast<NamespaceType>(i);
    return std::nullopt;
}

// ---- JSON paths and typed reads ----------------------------------------------------------

std::string join(const std::string& path, std::string_view key)
{
    if (path.empty())
        return std::string(key);
    std::string out = path;
    out += '.';
    out += key;
    return out;
}

std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// Map keys are free text ("net.ipv4.ip_forward"), so they are quoted rather than dotted on.
std::string key_path(const std::string& path, const std::string& key) { return path + "[\"" + key + "\"]"; }

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::unexpected<Error> bad(const std::string& path, std::string_view problem)
{
    return fail(path + ": " + std::string(problem));
}

bool is_absolute(std::string_view p) { return !p.empty() && p.front() == '/'; }

// Absent and null mean the same, as they do for Go's encoding/json, which every config
// written for runc has been through.
const json* field(const json& obj, const char* key)
{
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return nullptr;
    return &*it;
}

Result<> convert(const json& v, const std::string& path, std::string& out)
{
    if (!v.is_string())
        return bad(path, "expected a string");
    // Every string here ends up as a C string (a path, an argv or environ entry, mount
    // data), where a NUL would silently cut it short.
    const auto& s = v.get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos)
        return bad(path, "contains a NUL byte");
    out = s;
    return {};
}

Result<> convert(const json& v, const std::string& path, bool& out)
{
    if (!v.is_boolean())
        return bad(path, "expected a boolean");
    out = v.get<bool>();
    return {};
}

template <typename T>
concept Integer = std::integral<T> && !std::same_as<T, bool>;

template <Integer T>
Result<> convert(const json& v, const std::string& path, T& out)
{
    using limits = std::numeric_limits<T>;
    if (!v.is_number_integer())
        return bad(path, "expected an integer");
    auto out_of_range = [&](const std::string& got) {
        return bad(path, "expected an integer between " + std::to_string(limits::min()) + " and " +
                             std::to_string(limits::max()) + ", got " + got);
    };
    if (v.is_number_unsigned() || v.get<int64_t>() >= 0) {
        auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(limits::max()))
            return out_of_range(std::to_string(u));
        out = static_cast<T>(u);
        return {};
    }
    auto s = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
        return out_of_range(std::to_string(s));
    } else {
        if (s < static_cast<int64_t>(limits::min()))
            return out_of_range(std::to_string(s));
        out = static_cast<T>(s);
        return {};
    }
}

template <typename T>
constexpr std::string_view plural_name()
{
    if constexpr (std::same_as<T, std::string>)
        return "strings";
    else
        return "integers";
}

template <typename T>
Result<> convert(const json& v, const std::string& path, std::vector<T>& out)
{
    if (!v.is_array())
        return bad(path, "expected an array of " + std::string(plural_name<T>()));
    out.clear();
    out.reserve(v.size());
    size_t i = 0;
    for (const json& e : v) {
        T item{};
        TRY(convert(e, index(path, i++), item));
        out.push_back(std::move(item));
    }
    return {};
}

Result<> convert(const json& v, const std::string& path, std::map<std::string, std::string>& out)
{
    if (!v.is_object())
        return bad(path, "expected an object with string values");
    for (auto it = v.begin(); it != v.end(); ++it) {
        std::string value;
        TRY(convert(it.value(), key_path(path, it.key()), value));
        out[it.key()] = std::move(value);
    }
    return {};
}

template <typename T>
Result<> convert(const json& v, const std::string& path, std::optional<T>& out)
{
    T value{};
    TRY(convert(v, path, value));
    out = std::move(value);
    return {};
}

// Reads obj[key] into `out` when present; leaves `out` alone otherwise.
template <typename T>
Result<> read(const json& obj, const char* key, const std::string& path, T& out)
{
    const json* v = field(obj, key);
    if (!v)
        return {};
    return convert(*v, join(path, key), out);
}

template <typename T>
Result<> read_required(const json& obj, const char* key, const std::string& path, T& out)
{
    const json* v = field(obj, key);
    if (!v)
        return bad(join(path, key), "missing");
    return convert(*v, join(path, key), out);
}

// obj[key] when it is an object, nullptr when absent.
Result<const json*> object_field(const json& obj, const char* key, const std::string& path)
{
    const json* v = field(obj, key);
    if (v && !v->is_object())
        return bad(join(path, key), "expected an object");
    return v;
}

Result<const json*> array_field(const json& obj, const char* key, const std::string& path)
{
    const json* v = field(obj, key);
    if (v && !v->is_array())
        return bad(join(path, key), "expected an array");
    return v;
}

Result<> expect_object(const json& v, const std::string& path)
{
    if (!v.is_object())
        return bad(path, "expected an object");
    return {};
}

Result<std::string> read_absolute_path(const json& obj, const char* key, const std::string& path)
{
    std::string value;
    TRY(read_required(obj, key, path, value));
    if (!is_absolute(value))
        return bad(join(path, key), "must be an absolute path (got " + in_quotes(value) + ")");
    return value;
}

// Parsing is iterative, but dump() recurses (linux.seccomp is handed on as text; `update`
// re-serializes the saved config), so a few hundred kB of "[[[[" would overflow the stack.
// No real config comes near this; Go's encoding/json draws its own line at 10000.
constexpr int max_nesting = 1000;

Result<json> parse_json(std::string_view text, std::string_view what)
{
    bool too_deep = false;
    auto limit_depth = [&](int depth, json::parse_event_t event, json&) {
        if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
            depth >= max_nesting) {
            too_deep = true;
            return false; // skip the rest of this value rather than build it
        }
        return true;
    };
    json doc = json::parse(text.begin(), text.end(), limit_depth, false);
    if (!doc.is_discarded() && too_deep)
        return fail(std::string(what) + ": nested more than " + std::to_string(max_nesting) + " levels deep");
    if (!doc.is_discarded()) {
        if (!doc.is_object())
            return fail(std::string(what) + ": expected a JSON object");
        return doc;
    }
    return fail(std::string(what) + ": invalid JSON: " + json_error_detail(text));
}

// ---- process -----------------------------------------------------------------------------

// runc's init refuses these too, but only once the container is half built.
Result<> check_env(const std::string& entry, const std::string& path)
{
    auto eq = entry.find('=');
    if (eq == std::string::npos)
        return bad(path, "invalid environment variable " + in_quotes(entry) + ": missing '='");
    if (eq == 0)
        return bad(path, "invalid environment variable " + in_quotes(entry) + ": empty name");
    return {};
}

Result<> read_capability_set(const json& caps, const char* key, const std::string& path,
                             std::vector<int>& out)
{
    std::vector<std::string> names;
    TRY(read(caps, key, path, names));
    std::string set_path = join(path, key);
    for (size_t i = 0; i < names.size(); ++i) {
        auto cap = capability_from_name(names[i]);
        if (!cap)
            return bad(index(set_path, i), "unknown capability " + names[i]);
        out.push_back(*cap);
    }
    return {};
}

Result<std::vector<Rlimit>> parse_rlimits(const json& list, const std::string& path)
{
    std::vector<Rlimit> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        std::string type;
        TRY(read_required(e, "type", ep, type));
        auto resource = rlimit_from_name(type);
        if (!resource)
            return bad(join(ep, "type"), "unknown rlimit " + type);
        for (const auto& r : out)
            if (r.resource == *resource)
                return bad(join(ep, "type"), "duplicate rlimit " + type);
        Rlimit r{.resource = *resource};
        TRY(read_required(e, "soft", ep, r.soft));
        TRY(read_required(e, "hard", ep, r.hard));
        // The kernel would refuse it with a bare EINVAL once the container is half built.
        if (r.soft > r.hard)
            return bad(ep, "soft limit " + std::to_string(r.soft) + " is greater than hard limit " +
                               std::to_string(r.hard));
        out.push_back(r);
    }
    return out;
}

Result<Process> parse_process_object(const json& p, const std::string& path)
{
    TRY(expect_object(p, path));
    Process proc;
    TRY(read(p, "terminal", path, proc.terminal));
    if (const json* cs = TRY(object_field(p, "consoleSize", path))) {
        ConsoleSize size;
        std::string cp = join(path, "consoleSize");
        TRY(read_required(*cs, "height", cp, size.height));
        TRY(read_required(*cs, "width", cp, size.width));
        proc.console_size = size;
    }
    // Like runc, a missing user is root.
    if (const json* u = TRY(object_field(p, "user", path))) {
        std::string up = join(path, "user");
        TRY(read(*u, "uid", up, proc.user.uid));
        TRY(read(*u, "gid", up, proc.user.gid));
        TRY(read(*u, "umask", up, proc.user.umask));
        if (proc.user.umask && *proc.user.umask > 0777)
            return bad(join(up, "umask"), "must be at most 0777 (511)");
        TRY(read(*u, "additionalGids", up, proc.user.additional_gids));
    }

    if (!field(p, "args"))
        return bad(join(path, "args"), "missing");
    TRY(read(p, "args", path, proc.args));
    if (proc.args.empty())
        return bad(join(path, "args"), "must not be empty");

    TRY(read(p, "env", path, proc.env));
    for (size_t i = 0; i < proc.env.size(); ++i)
        TRY(check_env(proc.env[i], index(join(path, "env"), i)));

    proc.cwd = TRY(read_absolute_path(p, "cwd", path));

    if (const json* caps = TRY(object_field(p, "capabilities", path))) {
        std::string cp = join(path, "capabilities");
        Capabilities c;
        TRY(read_capability_set(*caps, "bounding", cp, c.bounding));
        TRY(read_capability_set(*caps, "effective", cp, c.effective));
        TRY(read_capability_set(*caps, "inheritable", cp, c.inheritable));
        TRY(read_capability_set(*caps, "permitted", cp, c.permitted));
        TRY(read_capability_set(*caps, "ambient", cp, c.ambient));
        proc.capabilities = std::move(c);
    }
    if (const json* rl = TRY(array_field(p, "rlimits", path)))
        proc.rlimits = TRY(parse_rlimits(*rl, join(path, "rlimits")));

    TRY(read(p, "noNewPrivileges", path, proc.no_new_privileges));
    TRY(read(p, "oomScoreAdj", path, proc.oom_score_adj));
    if (proc.oom_score_adj && (*proc.oom_score_adj < -1000 || *proc.oom_score_adj > 1000))
        return bad(join(path, "oomScoreAdj"), "must be between -1000 and 1000");
    TRY(read(p, "apparmorProfile", path, proc.apparmor_profile));
    TRY(read(p, "selinuxLabel", path, proc.selinux_label));
    return proc;
}

// ---- mounts ------------------------------------------------------------------------------

Result<> apply_mount_options(Mount& m, const std::string& path)
{
    std::vector<std::string> data;
    for (size_t i = 0; i < m.options.size(); ++i) {
        const std::string& opt = m.options[i];
        if (opt.empty())
            continue;
        if (auto prop = propagation_from_name(opt)) {
            m.propagation = *prop;
            continue;
        }
        auto flag = std::ranges::find(mount_flag_options, opt, &MountFlagOption::name);
        if (flag != std::end(mount_flag_options)) {
            // Later options win, as they do for mount(8): "ro,rw" is rw.
            if (flag->clear) {
                m.flags &= ~flag->flag;
                m.clear_flags |= flag->flag;
            } else {
                m.flags |= flag->flag;
                m.clear_flags &= ~flag->flag;
            }
            continue;
        }
        if (std::ranges::find(unsupported_mount_options, opt) != std::end(unsupported_mount_options))
            return bad(index(path, i), "mount option " + in_quotes(opt) + " is not supported");
        data.push_back(opt);
    }
    for (size_t i = 0; i < data.size(); ++i) {
        if (i)
            m.data += ',';
        m.data += data[i];
    }
    return {};
}

Result<Mount> parse_mount(const json& e, const std::string& path, const std::string& bundle)
{
    TRY(expect_object(e, path));
    Mount m;
    m.destination = fs::clean(TRY(read_absolute_path(e, "destination", path)));
    TRY(read(e, "type", path, m.type));
    TRY(read(e, "source", path, m.source));
    TRY(read(e, "options", path, m.options));
    TRY(apply_mount_options(m, join(path, "options")));
    if (m.type == "bind")
        m.flags |= MS_BIND;
    if (m.is_bind()) {
        if (m.source.empty())
            return bad(join(path, "source"), "missing (a bind mount needs a source)");
        if (!is_absolute(m.source))
            m.source = fs::absolute(m.source, bundle);
    }
    return m;
}

// ---- linux -------------------------------------------------------------------------------

Result<std::vector<IdMapping>> parse_id_mappings(const json& list, const std::string& path)
{
    std::vector<IdMapping> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        IdMapping m;
        TRY(read_required(e, "containerID", ep, m.container_id));
        TRY(read_required(e, "hostID", ep, m.host_id));
        TRY(read_required(e, "size", ep, m.size));
        if (m.size == 0)
            return bad(join(ep, "size"), "must not be 0");
        out.push_back(m);
    }
    return out;
}

Result<std::vector<Namespace>> parse_namespaces(const json& list, const std::string& path)
{
    std::vector<Namespace> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        std::string name;
        TRY(read_required(e, "type", ep, name));
        auto type = namespace_from_name(name);
        if (!type)
            return bad(join(ep, "type"), "unknown namespace type " + in_quotes(name));
        for (const auto& ns : out)
            if (ns.type == *type)
                return bad(join(ep, "type"), "duplicate namespace type " + in_quotes(name));
        Namespace ns{.type = *type, .path = {}};
        TRY(read(e, "path", ep, ns.path));
        if (!ns.path.empty() && !is_absolute(ns.path))
            return bad(join(ep, "path"), "must be an absolute path (got " + in_quotes(ns.path) + ")");
        out.push_back(std::move(ns));
    }
    return out;
}

Result<std::vector<Device>> parse_devices(const json& list, const std::string& path)
{
    std::vector<Device> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        Device d;
        std::string type;
        TRY(read_required(e, "type", ep, type));
        if (type.size() != 1 || std::string_view("cbup").find(type[0]) == std::string_view::npos)
            return bad(join(ep, "type"), "unknown device type " + in_quotes(type) + " (expected c, b, u or p)");
        d.type = type[0];
        d.path = fs::clean(TRY(read_absolute_path(e, "path", ep)));
        if (d.type == 'p') {
            TRY(read(e, "major", ep, d.major));
            TRY(read(e, "minor", ep, d.minor));
        } else {
            TRY(read_required(e, "major", ep, d.major));
            TRY(read_required(e, "minor", ep, d.minor));
        }
        TRY(read(e, "fileMode", ep, d.file_mode));
        TRY(read(e, "uid", ep, d.uid));
        TRY(read(e, "gid", ep, d.gid));
        out.push_back(std::move(d));
    }
    return out;
}

// -1 (or no value) is the wildcard; other negative numbers are mistakes.
Result<> read_device_number(const json& e, const char* key, const std::string& path,
                            std::optional<int64_t>& out)
{
    std::optional<int64_t> n;
    TRY(read(e, key, path, n));
    if (n && *n < -1)
        return bad(join(path, key), "must be -1 (any) or a device number");
    out = (n && *n >= 0) ? n : std::nullopt;
    return {};
}

Result<std::vector<DeviceRule>> parse_device_rules(const json& list, const std::string& path)
{
    std::vector<DeviceRule> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        DeviceRule r;
        TRY(read_required(e, "allow", ep, r.allow));
        std::string type = "a";
        TRY(read(e, "type", ep, type));
        if (type.empty())
            type = "a";
        if (type != "a" && type != "c" && type != "b")
            return bad(join(ep, "type"), "unknown device type " + in_quotes(type) + " (expected a, c or b)");
        r.type = type[0];
        TRY(read_device_number(e, "major", ep, r.major));
        TRY(read_device_number(e, "minor", ep, r.minor));
        TRY(read(e, "access", ep, r.access));
        if (r.access.find_first_not_of("rwm") != std::string::npos)
            return bad(join(ep, "access"), "invalid access " + in_quotes(r.access) + " (expected letters of \"rwm\")");
        out.push_back(std::move(r));
    }
    return out;
}

Result<std::vector<BlockIoWeightDevice>> parse_weight_devices(const json& list, const std::string& path)
{
    std::vector<BlockIoWeightDevice> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        BlockIoWeightDevice d;
        TRY(read_required(e, "major", ep, d.major));
        TRY(read_required(e, "minor", ep, d.minor));
        TRY(read(e, "weight", ep, d.weight));
        TRY(read(e, "leafWeight", ep, d.leaf_weight));
        out.push_back(d);
    }
    return out;
}

Result<> read_throttle_devices(const json& obj, const char* key, const std::string& path,
                               std::vector<BlockIoThrottleDevice>& out)
{
    const json* list = TRY(array_field(obj, key, path));
    if (!list)
        return {};
    std::string lp = join(path, key);
    size_t i = 0;
    for (const json& e : *list) {
        std::string ep = index(lp, i++);
        TRY(expect_object(e, ep));
        BlockIoThrottleDevice d;
        TRY(read_required(e, "major", ep, d.major));
        TRY(read_required(e, "minor", ep, d.minor));
        TRY(read_required(e, "rate", ep, d.rate));
        out.push_back(d);
    }
    return {};
}

// The kernel's hugetlb file names: a size without leading zeros and KB, MB or GB. The size
// ends up in a file name, so nothing else may pass.
bool valid_page_size(std::string_view s)
{
    if (s.size() < 3 || s.front() == '0')
        return false;
    auto unit = s.substr(s.size() - 2);
    if (unit != "KB" && unit != "MB" && unit != "GB")
        return false;
    return std::all_of(s.begin(), s.end() - 2, [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::vector<HugepageLimit>> parse_hugepage_limits(const json& list, const std::string& path)
{
    std::vector<HugepageLimit> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        HugepageLimit h;
        TRY(read_required(e, "pageSize", ep, h.page_size));
        if (!valid_page_size(h.page_size))
            return bad(join(ep, "pageSize"), "invalid page size " + in_quotes(h.page_size) +
                                                 " (expected a size such as \"2MB\" or \"1GB\")");
        TRY(read_required(e, "limit", ep, h.limit));
        for (const auto& other : out)
            if (other.page_size == h.page_size)
                return bad(join(ep, "pageSize"), "duplicate page size " + in_quotes(h.page_size));
        out.push_back(std::move(h));
    }
    return out;
}

// Interface and RDMA device names are one token on a line the kernel parses.
bool valid_name(const std::string& name)
{
    return !name.empty() && name.find_first_of(" \t\n/") == std::string::npos;
}

Result<std::vector<InterfacePriority>> parse_priorities(const json& list, const std::string& path)
{
    std::vector<InterfacePriority> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        InterfacePriority p;
        TRY(read_required(e, "name", ep, p.name));
        if (!valid_name(p.name))
            return bad(join(ep, "name"), "invalid interface name " + in_quotes(p.name));
        TRY(read_required(e, "priority", ep, p.priority));
        out.push_back(std::move(p));
    }
    return out;
}

Result<std::map<std::string, RdmaLimit>> parse_rdma(const json& obj, const std::string& path)
{
    std::map<std::string, RdmaLimit> out;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        std::string kp = key_path(path, it.key());
        if (!valid_name(it.key()))
            return bad(kp, "invalid device name");
        TRY(expect_object(it.value(), kp));
        RdmaLimit r;
        TRY(read(it.value(), "hcaHandles", kp, r.hca_handles));
        TRY(read(it.value(), "hcaObjects", kp, r.hca_objects));
        out[it.key()] = r;
    }
    return out;
}

Result<> parse_memory(const json& mem, const std::string& mp, Resources& r)
{
    TRY(read(mem, "limit", mp, r.memory_limit));
    TRY(read(mem, "reservation", mp, r.memory_reservation));
    TRY(read(mem, "swap", mp, r.memory_swap));
    TRY(read(mem, "kernel", mp, r.memory_kernel));
    TRY(read(mem, "kernelTCP", mp, r.memory_kernel_tcp));
    TRY(read(mem, "swappiness", mp, r.memory_swappiness));
    TRY(read(mem, "disableOOMKiller", mp, r.memory_disable_oom_killer));
    TRY(read(mem, "useHierarchy", mp, r.memory_use_hierarchy));
    TRY(read(mem, "checkBeforeUpdate", mp, r.memory_check_before_update));
    return {};
}

Result<> parse_cpu(const json& cpu, const std::string& cp, Resources& r)
{
    TRY(read(cpu, "shares", cp, r.cpu_shares));
    TRY(read(cpu, "quota", cp, r.cpu_quota));
    TRY(read(cpu, "burst", cp, r.cpu_burst));
    TRY(read(cpu, "period", cp, r.cpu_period));
    TRY(read(cpu, "realtimeRuntime", cp, r.cpu_realtime_runtime));
    TRY(read(cpu, "realtimePeriod", cp, r.cpu_realtime_period));
    TRY(read(cpu, "cpus", cp, r.cpu_cpus));
    TRY(read(cpu, "mems", cp, r.cpu_mems));
    TRY(read(cpu, "idle", cp, r.cpu_idle));
    return {};
}

Result<> parse_block_io(const json& bio, const std::string& bp, Resources& r)
{
    TRY(read(bio, "weight", bp, r.blkio_weight));
    TRY(read(bio, "leafWeight", bp, r.blkio_leaf_weight));
    if (const json* wd = TRY(array_field(bio, "weightDevice", bp)))
        r.blkio_weight_device = TRY(parse_weight_devices(*wd, join(bp, "weightDevice")));
    TRY(read_throttle_devices(bio, "throttleReadBpsDevice", bp, r.blkio_throttle_read_bps_device));
    TRY(read_throttle_devices(bio, "throttleWriteBpsDevice", bp, r.blkio_throttle_write_bps_device));
    TRY(read_throttle_devices(bio, "throttleReadIOPSDevice", bp, r.blkio_throttle_read_iops_device));
    TRY(read_throttle_devices(bio, "throttleWriteIOPSDevice", bp, r.blkio_throttle_write_iops_device));
    return {};
}

Result<Resources> parse_resources(const json& res, const std::string& path)
{
    Resources r;
    if (const json* devices = TRY(array_field(res, "devices", path)))
        r.devices = TRY(parse_device_rules(*devices, join(path, "devices")));
    if (const json* mem = TRY(object_field(res, "memory", path)))
        TRY(parse_memory(*mem, join(path, "memory"), r));
    if (const json* cpu = TRY(object_field(res, "cpu", path)))
        TRY(parse_cpu(*cpu, join(path, "cpu"), r));
    if (const json* pids = TRY(object_field(res, "pids", path)))
        TRY(read(*pids, "limit", join(path, "pids"), r.pids_limit));
    if (const json* bio = TRY(object_field(res, "blockIO", path)))
        TRY(parse_block_io(*bio, join(path, "blockIO"), r));
    if (const json* h = TRY(array_field(res, "hugepageLimits", path)))
        r.hugepage_limits = TRY(parse_hugepage_limits(*h, join(path, "hugepageLimits")));
    if (const json* net = TRY(object_field(res, "network", path))) {
        std::string np = join(path, "network");
        TRY(read(*net, "classID", np, r.network_class_id));
        if (const json* prio = TRY(array_field(*net, "priorities", np)))
            r.network_priorities = TRY(parse_priorities(*prio, join(np, "priorities")));
    }
    if (const json* rdma = TRY(object_field(res, "rdma", path)))
        r.rdma = TRY(parse_rdma(*rdma, join(path, "rdma")));
    TRY(read(res, "unified", path, r.unified));
    // Each key is a file in the container's cgroup directory, never a path out of it.
    for (const auto& [key, value] : r.unified)
        if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos)
            return bad(key_path(join(path, "unified"), key), "must be a file name in the cgroup directory");
    return r;
}

Result<std::map<std::string, TimeOffset>> parse_time_offsets(const json& obj, const std::string& path)
{
    std::map<std::string, TimeOffset> out;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        std::string kp = key_path(path, it.key());
        if (it.key() != "monotonic" && it.key() != "boottime")
            return bad(kp, "unknown clock (expected \"monotonic\" or \"boottime\")");
        TRY(expect_object(it.value(), kp));
        TimeOffset off;
        TRY(read(it.value(), "secs", kp, off.secs));
        TRY(read(it.value(), "nanosecs", kp, off.nanosecs));
        if (off.nanosecs >= 1'000'000'000)
            return bad(join(kp, "nanosecs"), "must be less than 1000000000");
        out[it.key()] = off;
    }
    return out;
}

Result<std::vector<std::string>> read_absolute_paths(const json& obj, const char* key, const std::string& path)
{
    std::vector<std::string> out;
    TRY(read(obj, key, path, out));
    for (size_t i = 0; i < out.size(); ++i)
        if (!is_absolute(out[i]))
            return bad(index(join(path, key), i), "must be an absolute path (got " + in_quotes(out[i]) + ")");
    return out;
}

Result<Linux> parse_linux(const json& l, const std::string& path)
{
    Linux lx;
    if (const json* ns = TRY(array_field(l, "namespaces", path)))
        lx.namespaces = TRY(parse_namespaces(*ns, join(path, "namespaces")));
    if (const json* m = TRY(array_field(l, "uidMappings", path)))
        lx.uid_mappings = TRY(parse_id_mappings(*m, join(path, "uidMappings")));
    if (const json* m = TRY(array_field(l, "gidMappings", path)))
        lx.gid_mappings = TRY(parse_id_mappings(*m, join(path, "gidMappings")));
    // A user namespace without mappings is fine: it is joined by path, or mapped by a hook.
    if (!lx.has_namespace(NamespaceType::User)) {
        if (!lx.uid_mappings.empty())
            return bad(join(path, "uidMappings"),
                       "user namespace mappings specified, but there is no user namespace in linux.namespaces");
        if (!lx.gid_mappings.empty())
            return bad(join(path, "gidMappings"),
                       "user namespace mappings specified, but there is no user namespace in linux.namespaces");
    }
    if (const json* t = TRY(object_field(l, "timeOffsets", path))) {
        lx.time_offsets = TRY(parse_time_offsets(*t, join(path, "timeOffsets")));
        // Offsets can only be written into a time namespace nobody has entered yet.
        const Namespace* time_ns = lx.find_namespace(NamespaceType::Time);
        if (!lx.time_offsets.empty() && (!time_ns || !time_ns->path.empty()))
            return bad(join(path, "timeOffsets"), "time offsets need a new time namespace in linux.namespaces");
    }
    if (const json* d = TRY(array_field(l, "devices", path)))
        lx.devices = TRY(parse_devices(*d, join(path, "devices")));
    TRY(read(l, "cgroupsPath", path, lx.cgroups_path));
    if (const json* res = TRY(object_field(l, "resources", path)))
        lx.resources = TRY(parse_resources(*res, join(path, "resources")));
    TRY(read(l, "sysctl", path, lx.sysctl));

    std::string propagation;
    TRY(read(l, "rootfsPropagation", path, propagation));
    if (!propagation.empty()) {
        auto flags = propagation_from_name(propagation);
        if (!flags)
            return bad(join(path, "rootfsPropagation"), "unknown propagation " + in_quotes(propagation));
        lx.rootfs_propagation = *flags;
    }

    lx.masked_paths = TRY(read_absolute_paths(l, "maskedPaths", path));
    lx.readonly_paths = TRY(read_absolute_paths(l, "readonlyPaths", path));
    TRY(read(l, "mountLabel", path, lx.mount_label));

    if (const json* sec = TRY(object_field(l, "seccomp", path)))
        lx.seccomp_json = sec->dump();

    if (const json* pers = TRY(object_field(l, "personality", path))) {
        std::string pp = join(path, "personality");
        std::string domain;
        TRY(read_required(*pers, "domain", pp, domain));
        if (domain != "LINUX" && domain != "LINUX32")
            return bad(join(pp, "domain"), "unknown personality domain " + in_quotes(domain) +
                                               " (expected \"LINUX\" or \"LINUX32\")");
        lx.personality_domain = domain;
    }
    return lx;
}

// ---- hooks and the document --------------------------------------------------------------

Result<std::vector<Hook>> parse_hook_list(const json& list, const std::string& path)
{
    std::vector<Hook> out;
    size_t i = 0;
    for (const json& e : list) {
        std::string ep = index(path, i++);
        TRY(expect_object(e, ep));
        Hook h;
        h.path = TRY(read_absolute_path(e, "path", ep));
        TRY(read(e, "args", ep, h.args));
        TRY(read(e, "env", ep, h.env));
        TRY(read(e, "timeout", ep, h.timeout));
        if (h.timeout && *h.timeout <= 0)
            return bad(join(ep, "timeout"), "must be greater than zero");
        out.push_back(std::move(h));
    }
    return out;
}

Result<Hooks> parse_hooks(const json& obj, const std::string& path)
{
    Hooks hooks;
    struct Stage {
        const char* key;
        std::vector<Hook> Hooks::*list;
    };
    static constexpr Stage stages[] = {
        {"prestart", &Hooks::prestart},
        {"createRuntime", &Hooks::create_runtime},
        {"createContainer", &Hooks::create_container},
        {"startContainer", &Hooks::start_container},
        {"poststart", &Hooks::poststart},
        {"poststop", &Hooks::poststop},
    };
    for (const auto& stage : stages)
        if (const json* list = TRY(array_field(obj, stage.key, path)))
            hooks.*stage.list = TRY(parse_hook_list(*list, join(path, stage.key)));
    return hooks;
}

Result<Config> parse_document(const json& doc, const std::string& bundle)
{
    Config c;
    TRY(read_required(doc, "ociVersion", "", c.oci_version));

    const json* root = TRY(object_field(doc, "root", ""));
    if (!root)
        return bad("root.path", "missing");
    std::string root_path;
    TRY(read_required(*root, "path", "root", root_path));
    if (root_path.empty())
        return bad("root.path", "must not be empty");
    c.root.path = fs::absolute(root_path, bundle);
    TRY(read(*root, "readonly", "root", c.root.readonly));

    if (const json* p = field(doc, "process")) {
        c.process = TRY(parse_process_object(*p, "process"));
        c.has_process = true;
    }
    TRY(read(doc, "hostname", "", c.hostname));
    TRY(read(doc, "domainname", "", c.domainname));

    if (const json* mounts = TRY(array_field(doc, "mounts", ""))) {
        size_t i = 0;
        for (const json& m : *mounts)
            c.mounts.push_back(TRY(parse_mount(m, index("mounts", i++), bundle)));
    }
    if (const json* hooks = TRY(object_field(doc, "hooks", "")))
        c.hooks = TRY(parse_hooks(*hooks, "hooks"));
    TRY(read(doc, "annotations", "", c.annotations));
    if (const json* l = TRY(object_field(doc, "linux", "")))
        c.linux = TRY(parse_linux(*l, "linux"));

    // runc refuses these at create; the config is already wrong, so say so here.
    if (!c.hostname.empty() && !c.linux.has_namespace(NamespaceType::Uts))
        return bad("hostname", "unable to set hostname without a private UTS namespace");
    if (!c.domainname.empty() && !c.linux.has_namespace(NamespaceType::Uts))
        return bad("domainname", "unable to set domainname without a private UTS namespace");
    return c;
}

} // namespace

// ---- public interface --------------------------------------------------------------------

bool Mount::is_bind() const { return (flags & MS_BIND) != 0 || type == "bind"; }

bool Linux::has_namespace(NamespaceType t) const { return find_namespace(t) != nullptr; }

const Namespace* Linux::find_namespace(NamespaceType t) const
{
    for (const auto& ns : namespaces)
        if (ns.type == t)
            return &ns;
    return nullptr;
}

// The exception handlers are the module's edge: nothing nlohmann throws gets past them.
Result<Config> parse_config(std::string_view json_text, const std::string& bundle)
{
    try {
        json doc = TRY(parse_json(json_text, "config.json"));
        return parse_document(doc, bundle);
    } catch (const json::exception& e) {
        return fail(std::string("config.json: ") + e.what());
    }
}

Result<Config> load_config(const std::string& bundle)
{
    std::string text = TRY(fs::read_file(bundle + "/config.json"));
    return parse_config(text, bundle);
}

Result<Process> parse_process(std::string_view json_text)
{
    try {
        json doc = TRY(parse_json(json_text, "process"));
        return parse_process_object(doc, "process");
    } catch (const json::exception& e) {
        return fail(std::string("process: ") + e.what());
    }
}

Result<Resources> parse_resources(std::string_view json_text)
{
    try {
        json doc = TRY(parse_json(json_text, "resources"));
        return parse_resources(doc, "resources");
    } catch (const json::exception& e) {
        return fail(std::string("resources: ") + e.what());
    }
}

std::optional<int> capability_from_name(std::string_view name)
{
    for (size_t i = 0; i < std::size(capability_names); ++i)
        if (capability_names[i] == name)
            return static_cast<int>(i);
    return std::nullopt;
}

std::string_view capability_name(int cap)
{
    if (cap < 0 || static_cast<size_t>(cap) >= std::size(capability_names))
        return {};
    return capability_names[cap];
}

std::optional<int> rlimit_from_name(std::string_view name)
{
    for (const auto& r : rlimit_names)
        if (r.name == name)
            return r.resource;
    return std::nullopt;
}

std::string_view namespace_type_name(NamespaceType t)
{
    auto i = static_cast<size_t>(t);
    return i < std::size(namespace_names) ? namespace_names[i] : std::string_view("unknown");
}

std::vector<std::string_view> mount_option_names()
{
    std::vector<std::string_view> names;
    for (const auto& o : mount_flag_options)
        names.push_back(o.name);
    for (const auto& p : propagation_options)
        names.push_back(p.name);
    std::ranges::sort(names);
    return names;
}

} // namespace husk::spec
