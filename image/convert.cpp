// Image config -> runtime config.json: the image-spec's conversion rules (conversion.md)
// applied over husk's default spec (the `husk spec` document). Owns the reading of the image
// config and of the image's /etc/passwd and /etc/group text. May not touch the file system
// (the caller reads those files, safely, from the rootfs) nor decide what the runtime
// accepts: the runtime parses and validates the result again at create.
//
// What husk does where conversion.md leaves room:
// - Config.User absent or "": uid 0, gid 0, no additionalGids (the default spec's user).
// - Config.Volumes: no mounts. The bundle's rootfs is this bundle's own copy, so writes to
//   a volume path neither reach the image nor get lost with a layer; a caller that wants a
//   real volume adds the mount to config.json itself.
// - os.features (an array) becomes one comma-separated annotation value.
// - Rootless bundles map only root, so an image that runs as another user is an error, and
//   additionalGids are dropped (no other gid exists in that user namespace, and setgroups is
//   denied there anyway).
#include "image/convert.hpp"

#include "common/json_error.hpp"
#include "runtime/spec/config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>

namespace husk::image {

namespace {

using json = nlohmann::json;
// The output keeps the default spec's key order (runc's), so it is built as ordered_json.
using ojson = nlohmann::ordered_json;

// Error text quotes names from the image, which is untrusted: control characters are
// escaped so that a hostile /etc/passwd or config cannot forge lines in a log.
std::string quote(std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

// ---- /etc/passwd and /etc/group -----------------------------------------------------------

std::vector<std::string_view> split(std::string_view s, char sep)
{
    std::vector<std::string_view> out;
    for (;;) {
        size_t pos = s.find(sep);
        out.push_back(s.substr(0, pos));
        if (pos == std::string_view::npos)
            return out;
        s.remove_prefix(pos + 1);
    }
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

struct Entry {
    size_t line = 0; // 1-based, for error messages
    std::vector<std::string_view> fields;
};

// The entry lines of a passwd/group file, split on ':'. Blank lines, comments and NIS
// compat lines ("+name", "-name": they defer to NSS, which an image file cannot) are not
// entries; lines with fewer than `min_fields` fields are skipped, as getpwent skips them.
std::vector<Entry> entries(std::string_view text, size_t min_fields)
{
    std::vector<Entry> out;
    size_t line_no = 0;
    for (std::string_view line : split(text, '\n')) {
        ++line_no;
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == '+' || line.front() == '-')
            continue;
        auto fields = split(line, ':');
        if (fields.size() < min_fields || fields[0].empty())
            continue;
        out.push_back({line_no, std::move(fields)});
    }
    return out;
}

bool all_digits(std::string_view s)
{
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A decimal id. (uint32_t)-1 is "leave unchanged" to setresuid and chown, never an id.
std::optional<uint32_t> parse_id(std::string_view s)
{
    if (!all_digits(s))
        return std::nullopt;
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v == UINT32_MAX)
        return std::nullopt;
    return v;
}

// Config.User's parts are ids when numeric; "-1" and "+5" are meant as numbers too (and
// are no valid names for useradd), so they are rejected as ids rather than looked up.
bool looks_numeric(std::string_view s)
{
    if (!s.empty() && (s.front() == '-' || s.front() == '+'))
        s.remove_prefix(1);
    return all_digits(s);
}

struct PasswdEntry {
    uint32_t uid = 0;
    uint32_t gid = 0;
};

// First entry with this name, as getpwnam takes the first. A malformed entry for the
// requested name is an error: skipping it would report the user as missing, which misleads.
Result<std::optional<PasswdEntry>> passwd_by_name(std::string_view text, std::string_view name)
{
    for (const Entry& e : entries(text, 4)) {
        if (e.fields[0] != name)
            continue;
        auto uid = parse_id(e.fields[2]);
        auto gid = parse_id(e.fields[3]);
        if (!uid || !gid)
            return fail("/etc/passwd line " + std::to_string(e.line) + ": malformed uid or gid");
        return PasswdEntry {*uid, *gid};
    }
    return std::nullopt;
}

// First entry with this uid; entries with malformed ids cannot be meant and are skipped.
std::optional<PasswdEntry> passwd_by_uid(std::string_view text, uint32_t uid)
{
    for (const Entry& e : entries(text, 4)) {
        auto u = parse_id(e.fields[2]);
        auto g = parse_id(e.fields[3]);
        if (u && g && *u == uid)
            return PasswdEntry {*u, *g};
    }
    return std::nullopt;
}

Result<std::optional<uint32_t>> group_by_name(std::string_view text, std::string_view name)
{
    for (const Entry& e : entries(text, 3)) {
        if (e.fields[0] != name)
            continue;
        auto gid = parse_id(e.fields[2]);
        if (!gid)
            return fail("/etc/group line " + std::to_string(e.line) + ": malformed gid");
        return gid;
    }
    return std::nullopt;
}

// The gids of the groups whose member list names `user`, in file order, each once.
std::vector<uint32_t> memberships(std::string_view text, std::string_view user)
{
    std::vector<uint32_t> out;
    for (const Entry& e : entries(text, 4)) {
        auto gid = parse_id(e.fields[2]);
        if (!gid)
            continue;
        for (std::string_view member : split(e.fields[3], ',')) {
            if (trim(member) != user)
                continue;
            if (std::find(out.begin(), out.end(), *gid) == out.end())
                out.push_back(*gid);
            break;
        }
    }
    return out;
}

// ---- the image config ---------------------------------------------------------------------

// The image config comes from the network. Parsing is iterative, but some of nlohmann's
// operations recurse, so a document of nothing but "[[[[" is refused before it is built.
constexpr int max_nesting = 1000;

Result<json> parse_image_config(std::string_view text)
{
    bool too_deep = false;
    auto limit_depth = [&](int depth, json::parse_event_t event, json&) {
        if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
            depth >= max_nesting) {
            too_deep = true;
            return false;
        }
        return true;
    };
    json doc = json::parse(text.begin(), text.end(), limit_depth, false);
    if (!doc.is_discarded() && too_deep)
        return fail("image config: nested more than " + std::to_string(max_nesting) + " levels deep");
    if (!doc.is_discarded()) {
        if (!doc.is_object())
            return fail(std::string("image config: expected a JSON object, got ") + doc.type_name());
        return doc;
    }
    return fail("image config: invalid JSON: " + json_error_detail(text));
}

std::string join_path(std::string_view path, std::string_view key)
{
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::unexpected<Error> bad(const std::string& path, std::string_view why)
{
    return fail("image config: " + path + ": " + std::string(why));
}

// A member that may be absent. null counts as absent: Docker writes "Cmd": null and
// "Labels": null for what the image does not set.
const json* member(const json& obj, const char* key)
{
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return nullptr;
    return &*it;
}

Result<const json*> read_object(const json& obj, const char* key, std::string_view path)
{
    const json* v = member(obj, key);
    if (v && !v->is_object())
        return bad(join_path(path, key), std::string("must be an object, got ") + v->type_name());
    return v;
}

Result<std::optional<std::string>> read_string(const json& obj, const char* key, std::string_view path)
{
    const json* v = member(obj, key);
    if (!v)
        return std::nullopt;
    if (!v->is_string())
        return bad(join_path(path, key), std::string("must be a string, got ") + v->type_name());
    return v->get<std::string>();
}

Result<std::vector<std::string>> read_strings(const json& obj, const char* key, std::string_view path)
{
    std::vector<std::string> out;
    const json* v = member(obj, key);
    if (!v)
        return out;
    std::string p = join_path(path, key);
    if (!v->is_array())
        return bad(p, std::string("must be an array of strings, got ") + v->type_name());
    for (size_t i = 0; i < v->size(); ++i) {
        const json& item = (*v)[i];
        if (!item.is_string())
            return bad(p + "[" + std::to_string(i) + "]", std::string("must be a string, got ") + item.type_name());
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::string comma_join(const std::vector<std::string>& items)
{
    std::string out;
    for (const auto& item : items) {
        if (!out.empty())
            out += ',';
        out += item;
    }
    return out;
}

// Keys are sorted because std::map sorts them: the output is the same for the same image.
using Annotations = std::map<std::string, std::string>;

constexpr std::string_view annotation_prefix = "org.opencontainers.image.";

// The implicit annotations (conversion.md "Annotation Fields", exposedPorts, and the
// manifest's ref.name), then Config.Labels over them: on a conflict the label wins.
Result<Annotations> annotations_of(const json& image, const json& config, const ConvertOptions& options)
{
    Annotations out;
    auto implicit = [&](std::string_view name, const std::string& value) {
        // Go's omitempty: an empty field is an absent one, not an empty annotation.
        if (!value.empty())
            out[std::string(annotation_prefix) + std::string(name)] = value;
    };

    for (const char* field : {"os", "architecture", "variant", "os.version", "author", "created"})
        implicit(field, TRY(read_string(image, field, "")).value_or(""));
    implicit("os.features", comma_join(TRY(read_strings(image, "os.features", ""))));
    implicit("stopSignal", TRY(read_string(config, "StopSignal", "config")).value_or(""));

    if (const json* ports = TRY(read_object(config, "ExposedPorts", "config"))) {
        std::vector<std::string> keys;
        for (const auto& [key, value] : ports->items())
            keys.push_back(key); // json's objects iterate sorted
        implicit("exposedPorts", comma_join(keys));
    }
    implicit("ref.name", options.ref_name);

    if (const json* labels = TRY(read_object(config, "Labels", "config"))) {
        for (const auto& [key, value] : labels->items()) {
            if (!value.is_string())
                return bad("config.Labels." + key, std::string("must be a string, got ") + value.type_name());
            out[key] = value.get<std::string>();
        }
    }
    return out;
}

// The runtime refuses these at create (process.env); saying so here names the image.
Result<> check_env(const std::vector<std::string>& env)
{
    for (size_t i = 0; i < env.size(); ++i) {
        size_t eq = env[i].find('=');
        if (eq == std::string::npos || eq == 0)
            return bad("config.Env[" + std::to_string(i) + "]",
                       quote(env[i]) + " is not NAME=VALUE");
    }
    return {};
}

// The runtime-spec's key order puts annotations after mounts and hooks, before linux.
ojson with_annotations(const ojson& spec, const Annotations& annotations)
{
    if (annotations.empty())
        return spec;
    ojson a = ojson::object();
    for (const auto& [key, value] : annotations)
        a[key] = value;
    ojson out = ojson::object();
    for (const auto& [key, value] : spec.items()) {
        if (key == "linux")
            out["annotations"] = a;
        out[key] = value;
    }
    if (!out.contains("annotations"))
        out["annotations"] = std::move(a);
    return out;
}

Result<std::string> convert(const json& image, const UserFiles& files, const ConvertOptions& options)
{
    static const json no_config = json::object();
    const json* config_ptr = TRY(read_object(image, "config", ""));
    const json& config = config_ptr ? *config_ptr : no_config;

    std::vector<std::string> args = TRY(read_strings(config, "Entrypoint", "config"));
    for (auto& arg : TRY(read_strings(config, "Cmd", "config")))
        args.push_back(std::move(arg));

    std::vector<std::string> env = TRY(read_strings(config, "Env", "config"));
    TRY(check_env(env));

    std::string cwd = TRY(read_string(config, "WorkingDir", "config")).value_or("");
    if (cwd.empty())
        cwd = "/";
    // Docker refuses a relative WorkingDir at create too; the runtime would, less clearly.
    if (cwd.front() != '/')
        return bad("config.WorkingDir", quote(cwd) + " is not an absolute path");

    std::string user_text = TRY(read_string(config, "User", "config")).value_or("");
    ResolvedUser user = TRY(resolve_user(user_text, files));
    if (options.rootless) {
        if (user.uid != 0 || user.gid != 0)
            return fail("image user " + quote(user_text) + " runs as uid:gid " + std::to_string(user.uid) + ":" +
                        std::to_string(user.gid) +
                        ", but the rootless bundle maps only root (uid 0 and gid 0) to the calling user");
        user.additional_gids.clear();
    }

    Annotations annotations = TRY(annotations_of(image, config, options));
    // Config.Volumes: read by nothing, deliberately (see the header comment).

    ojson spec = ojson::parse(spec::default_spec_json(options.rootless, options.host_uid, options.host_gid));
    ojson& process = spec["process"];
    // Bundles from images run non-interactively; a user who wants a terminal flips it.
    process["terminal"] = false;

    ojson process_user = {{"uid", user.uid}, {"gid", user.gid}};
    if (!user.additional_gids.empty())
        process_user["additionalGids"] = user.additional_gids;
    process["user"] = std::move(process_user);

    process["args"] = args;

    // The image's Env verbatim; the default spec's PATH only when the image has none
    // (conversion.md: add nothing whose name the image sets). No TERM: there is no terminal.
    bool has_path = std::ranges::any_of(env, [](const std::string& e) { return e.starts_with("PATH="); });
    ojson out_env = ojson::array();
    if (!has_path)
        for (const auto& e : process["env"])
            if (e.is_string() && e.get<std::string>().starts_with("PATH="))
                out_env.push_back(e);
    for (const auto& e : env)
        out_env.push_back(e);
    process["env"] = std::move(out_env);

    process["cwd"] = cwd;

    return with_annotations(spec, annotations).dump(4) + "\n";
}

} // namespace

Result<ResolvedUser> resolve_user(std::string_view user, const UserFiles& files)
{
    ResolvedUser out;
    // conversion.md leaves an unset user to the implementation: root, as in the default spec.
    if (user.empty())
        return out;

    std::string context = "image user " + quote(user);
    auto error = [&](const std::string& why) { return fail(context + ": " + why); };

    size_t colon = user.find(':');
    std::string_view user_part = user.substr(0, colon);
    std::optional<std::string_view> group_part;
    if (colon != std::string_view::npos)
        group_part = user.substr(colon + 1);
    if (user_part.empty())
        return error("no user before ':'");
    if (group_part && group_part->empty())
        return error("no group after ':'");
    if (group_part && group_part->find(':') != std::string_view::npos)
        return error("expected user[:group]");

    bool named_user = false;
    if (looks_numeric(user_part)) {
        // Numeric ids are copied verbatim; a uid with no passwd entry is legitimate.
        auto uid = parse_id(user_part);
        if (!uid)
            return error(quote(user_part) + " is not a valid uid");
        out.uid = *uid;
        if (files.passwd)
            if (auto entry = passwd_by_uid(*files.passwd, *uid))
                out.gid = entry->gid;
    } else {
        if (!files.passwd)
            return error("no such user: the image has no /etc/passwd");
        auto entry = TRY_CTX(passwd_by_name(*files.passwd, user_part), context);
        if (!entry)
            return error("no such user in /etc/passwd");
        out.uid = entry->uid;
        out.gid = entry->gid;
        named_user = true;
    }

    if (group_part) {
        if (looks_numeric(*group_part)) {
            auto gid = parse_id(*group_part);
            if (!gid)
                return error(quote(*group_part) + " is not a valid gid");
            out.gid = *gid;
        } else {
            if (!files.group)
                return error("no such group: the image has no /etc/group");
            auto gid = TRY_CTX(group_by_name(*files.group, *group_part), context);
            if (!gid)
                return error("no such group in /etc/group");
            out.gid = *gid;
        }
    } else if (named_user && files.group) {
        // conversion.md: supplementary groups only for a user given by name with no group;
        // a numeric user or an explicit group means exactly the ids written.
        out.additional_gids = memberships(*files.group, user_part);
    }
    return out;
}

// The exception handler is the module's edge: nothing nlohmann throws gets past it.
Result<std::string> runtime_config_from_image(std::string_view image_config, const UserFiles& files,
                                              const ConvertOptions& options)
{
    try {
        json image = TRY(parse_image_config(image_config));
        return convert(image, files, options);
    } catch (const json::exception& e) {
        return fail(std::string("image config: ") + e.what());
    } catch (const std::bad_alloc&) {
        return fail("image config: out of memory");
    }
}

} // namespace husk::image
