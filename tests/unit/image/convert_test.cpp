// Unit tests for image/convert: Config.User resolution against the image's passwd and group
// text, and the image config -> config.json conversion (conversion.md's rules over the
// default spec), including every malformed input being an Error, never an exception.
#include "image/convert.hpp"

#include "runtime/spec/config.hpp"

#include <doctest.h>
#include <nlohmann/json.hpp>

#include <string>

using namespace husk;
using namespace husk::image;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const std::string default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An image's /etc/passwd with the clutter real files have: comments, blank lines, short
// lines, NIS compat lines, a CRLF line and an entry with a malformed uid.
const std::string passwd_text = "root:x:0:0:root:/root:/bin/sh\n"
                                "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                "# a comment\n"
                                "\n"
                                "short:line\n"
                                "+nis::0:0:::\n"
                                "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                                "bob:x:1001:100::/home/bob:/bin/sh\r\n"
                                "broken:x:abc:1::/:/bin/sh\n"
                                "alice:x:2222:2222:second alice, never used:/:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/:/bin/false";

const std::string group_text = "root:x:0:root\n"
                               "wheel:x:10:root,alice\n"
                               "# staff lists members with spaces around them\n"
                               "staff:x:50: alice , bob\n"
                               "users:x:100:\n"
                               "alice:x:1000:\n"
                               "again:x:50:alice\n"
                               "badgid:x:zz:alice\n"
                               "noise\n"
                               "wheeler:x:11:alice2,xalice\n"
                               "nogroup:x:65534:";

UserFiles image_files() { return {passwd_text, group_text}; }

ResolvedUser resolve_ok(std::string_view user, const UserFiles& files = image_files())
{
    auto r = resolve_user(user, files);
    if (!r)
        FAIL_CHECK("unexpected error: " << r.error().message());
    REQUIRE(r.has_value());
    return *r;
}

std::string resolve_error(std::string_view user, const UserFiles& files = image_files())
{
    auto r = resolve_user(user, files);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == 0);
    return r.error().message();
}

bool contains(const std::string& haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string::npos;
}

std::string convert_text(std::string_view image, const UserFiles& files = image_files(),
                         const ConvertOptions& options = {})
{
    auto r = runtime_config_from_image(image, files, options);
    if (!r)
        FAIL_CHECK("unexpected error: " << r.error().message());
    REQUIRE(r.has_value());
    return *r;
}

json convert_ok(std::string_view image, const UserFiles& files = image_files(), const ConvertOptions& options = {})
{
    return json::parse(convert_text(image, files, options));
}

std::string convert_error(std::string_view image, const UserFiles& files = image_files(),
                          const ConvertOptions& options = {})
{
    auto r = runtime_config_from_image(image, files, options);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == 0);
    return r.error().message();
}

// An image config with `config` as its Config object.
std::string image_with(const json& config)
{
    json image = {{"architecture", "amd64"}, {"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    image["config"] = config;
    return image.dump();
}

} // namespace

TEST_CASE("image convert: empty user is root without supplementary groups")
{
    ResolvedUser u = resolve_ok("");
    CHECK(u.uid == 0);
    CHECK(u.gid == 0);
    CHECK(u.additional_gids.empty());
    // Even with no passwd or group file at all.
    CHECK(resolve_ok("", UserFiles {}).uid == 0);
}

TEST_CASE("image convert: user by name takes passwd ids and group memberships")
{
    ResolvedUser alice = resolve_ok("alice");
    CHECK(alice.uid == 1000);
    CHECK(alice.gid == 1000);
    // wheel and staff (member names trimmed); gid 50 listed twice counts once; the line with
    // a bad gid and the near-miss names (alice2, xalice) do not count.
    CHECK(alice.additional_gids == std::vector<uint32_t> {10, 50});

    ResolvedUser bob = resolve_ok("bob"); // a CRLF line
    CHECK(bob.uid == 1001);
    CHECK(bob.gid == 100);
    CHECK(bob.additional_gids == std::vector<uint32_t> {50});

    ResolvedUser root = resolve_ok("root");
    CHECK(root.uid == 0);
    CHECK(root.gid == 0);
    CHECK(root.additional_gids == std::vector<uint32_t> {0, 10});

    ResolvedUser daemon = resolve_ok("daemon");
    CHECK(daemon.uid == 1);
    CHECK(daemon.gid == 1);
    CHECK(daemon.additional_gids.empty());
}

TEST_CASE("image convert: numeric uid is verbatim, gid from passwd when listed, else 0")
{
    ResolvedUser listed = resolve_ok("1000");
    CHECK(listed.uid == 1000);
    CHECK(listed.gid == 1000);
    // conversion.md: a numeric user gets no supplementary groups.
    CHECK(listed.additional_gids.empty());

    ResolvedUser unlisted = resolve_ok("4242");
    CHECK(unlisted.uid == 4242);
    CHECK(unlisted.gid == 0);
    CHECK(unlisted.additional_gids.empty());

    ResolvedUser zero = resolve_ok("0");
    CHECK(zero.uid == 0);
    CHECK(zero.gid == 0);
    CHECK(zero.additional_gids.empty());

    CHECK(resolve_ok("007").uid == 7);
    CHECK(resolve_ok("65534").gid == 65534);
}

TEST_CASE("image convert: user with group, every combination of names and ids")
{
    ResolvedUser name_group = resolve_ok("alice:staff");
    CHECK(name_group.uid == 1000);
    CHECK(name_group.gid == 50);
    // An explicit group means exactly that group: no memberships.
    CHECK(name_group.additional_gids.empty());

    ResolvedUser name_gid = resolve_ok("alice:100");
    CHECK(name_gid.uid == 1000);
    CHECK(name_gid.gid == 100);
    CHECK(name_gid.additional_gids.empty());

    ResolvedUser uid_gid = resolve_ok("1001:7");
    CHECK(uid_gid.uid == 1001);
    CHECK(uid_gid.gid == 7);
    CHECK(uid_gid.additional_gids.empty());

    ResolvedUser uid_group = resolve_ok("4242:wheel");
    CHECK(uid_group.uid == 4242);
    CHECK(uid_group.gid == 10);
    CHECK(uid_group.additional_gids.empty());

    ResolvedUser group_zero = resolve_ok("alice:0");
    CHECK(group_zero.uid == 1000);
    CHECK(group_zero.gid == 0);
}

TEST_CASE("image convert: unknown user or group names are errors")
{
    CHECK(resolve_error("mallory") == R"(image user "mallory": no such user in /etc/passwd)");
    CHECK(resolve_error("alice:nosuch") == R"(image user "alice:nosuch": no such group in /etc/group)");
    CHECK(resolve_error("1000:nosuch") == R"(image user "1000:nosuch": no such group in /etc/group)");
    // Name matching is exact: no prefixes, no case folding.
    CHECK(contains(resolve_error("alic"), "no such user"));
    CHECK(contains(resolve_error("Alice"), "no such user"));
    // A NIS compat line is not an entry named "+nis".
    CHECK(contains(resolve_error("+nis"), "no such user"));
    // Control characters from the image are escaped in the message.
    CHECK(resolve_error("ev\nil") == R"(image user "ev\x0ail": no such user in /etc/passwd)");
}

TEST_CASE("image convert: absent passwd or group files")
{
    UserFiles no_passwd {std::nullopt, group_text};
    CHECK(resolve_error("alice", no_passwd) == R"(image user "alice": no such user: the image has no /etc/passwd)");
    ResolvedUser numeric = resolve_ok("1000", no_passwd);
    CHECK(numeric.uid == 1000);
    CHECK(numeric.gid == 0);
    ResolvedUser numeric_group = resolve_ok("1000:staff", no_passwd);
    CHECK(numeric_group.uid == 1000);
    CHECK(numeric_group.gid == 50);

    UserFiles no_group {passwd_text, std::nullopt};
    ResolvedUser alice = resolve_ok("alice", no_group);
    CHECK(alice.uid == 1000);
    CHECK(alice.gid == 1000);
    CHECK(alice.additional_gids.empty());
    CHECK(resolve_error("alice:staff", no_group) ==
          R"(image user "alice:staff": no such group: the image has no /etc/group)");
    CHECK(resolve_ok("alice:5", no_group).gid == 5);

    // Empty files are files with no entries.
    UserFiles empty {"", ""};
    CHECK(contains(resolve_error("alice", empty), "no such user in /etc/passwd"));
    CHECK(resolve_ok("12:34", empty).gid == 34);
}

TEST_CASE("image convert: malformed user strings and numbers are errors")
{
    CHECK(resolve_error("-1") == R"(image user "-1": "-1" is not a valid uid)");
    CHECK(contains(resolve_error("+5"), "is not a valid uid"));
    CHECK(contains(resolve_error("4294967296"), R"("4294967296" is not a valid uid)"));
    // (uid_t)-1 means "unchanged" to the kernel, never a user.
    CHECK(contains(resolve_error("4294967295"), "is not a valid uid"));
    CHECK(resolve_ok("4294967294").uid == 4294967294u);
    CHECK(contains(resolve_error("99999999999999999999999"), "is not a valid uid"));
    CHECK(resolve_error("alice:-5") == R"(image user "alice:-5": "-5" is not a valid gid)");
    CHECK(contains(resolve_error("1:4294967295"), "is not a valid gid"));
    CHECK(resolve_error(":5") == R"(image user ":5": no user before ':')");
    CHECK(resolve_error("alice:") == R"(image user "alice:": no group after ':')");
    CHECK(resolve_error("a:b:c") == R"(image user "a:b:c": expected user[:group])");
    CHECK(contains(resolve_error(":"), "no user before ':'"));
}

TEST_CASE("image convert: malformed passwd and group entries")
{
    // The entry for the requested name is malformed: say so rather than "no such user".
    CHECK(resolve_error("broken") == R"(image user "broken": /etc/passwd line 9: malformed uid or gid)");
    CHECK(resolve_error("alice:badgid") == R"(image user "alice:badgid": /etc/group line 8: malformed gid)");
    // The first entry of a name wins, as with getpwnam.
    CHECK(resolve_ok("alice").uid == 1000);

    // Garbage of every shape parses without crashing and matches nothing.
    using namespace std::string_literals; // the garbage holds a NUL byte
    const std::string garbage = "::::::\n:\n\n\n:x:1:1\nname\nname:\nname:x\nname:x:\nname:x::\n"
                                "\xff\xfe\x00junk:x:1:1"
                                "\nlast:x:77:88"s;
    UserFiles junk {garbage, garbage};
    CHECK(contains(resolve_error("name"), "no such user"));
    CHECK(contains(resolve_error("name", junk), "malformed uid or gid"));
    ResolvedUser last = resolve_ok("last", junk); // the final line has no newline
    CHECK(last.uid == 77);
    CHECK(last.gid == 88);
    CHECK(resolve_ok("77", junk).gid == 88);
    CHECK(contains(resolve_error("1:name", junk), "malformed gid"));
}

TEST_CASE("image convert: minimal image over the default spec")
{
    std::string text = convert_text(R"({"architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": []}})");
    CHECK(text.ends_with("}\n"));
    CHECK(text.starts_with("{\n    \"ociVersion\""));

    ojson doc = ojson::parse(text);
    // The default spec's key order, annotations where the runtime-spec puts them.
    std::vector<std::string> keys;
    for (const auto& [key, value] : doc.items())
        keys.push_back(key);
    CHECK(keys == std::vector<std::string> {"ociVersion", "process", "root", "hostname", "mounts", "annotations", "linux"});
    std::vector<std::string> process_keys;
    for (const auto& [key, value] : doc["process"].items())
        process_keys.push_back(key);
    CHECK(process_keys == std::vector<std::string> {"terminal", "user", "args", "env", "cwd", "capabilities", "rlimits",
                                                    "noNewPrivileges"});

    const ojson& p = doc["process"];
    CHECK(p["terminal"] == false);
    CHECK(p["user"] == ojson {{"uid", 0}, {"gid", 0}});
    CHECK(p["args"] == ojson {"/bin/sh"});
    CHECK(p["env"] == ojson {default_path});
    CHECK(p["cwd"] == "/");
    CHECK(doc["annotations"] ==
          ojson {{"org.opencontainers.image.architecture", "amd64"}, {"org.opencontainers.image.os", "linux"}});

    // Everything the conversion does not own is the default spec's.
    ojson def = ojson::parse(spec::default_spec_json(false, 0, 0));
    for (const char* key : {"ociVersion", "root", "hostname", "mounts", "linux"})
        CHECK(doc[key] == def[key]);
    CHECK(p["capabilities"] == def["process"]["capabilities"]);
    CHECK(p["rlimits"] == def["process"]["rlimits"]);
    CHECK(p["noNewPrivileges"] == true);

    // And the runtime's own parser takes it.
    auto parsed = spec::parse_config(text, "/run/bundles/b1");
    if (!parsed)
        FAIL_CHECK(parsed.error().message());
    CHECK(parsed.has_value());
}

TEST_CASE("image convert: Entrypoint and Cmd combinations")
{
    auto args = [](const json& config) { return convert_ok(image_with(config))["process"]["args"]; };
    CHECK(args({{"Entrypoint", {"/entry", "-x"}}, {"Cmd", {"a", "b"}}}) == json {"/entry", "-x", "a", "b"});
    CHECK(args({{"Entrypoint", {"/entry"}}}) == json {"/entry"});
    CHECK(args({{"Entrypoint", {"/entry"}}, {"Cmd", nullptr}}) == json {"/entry"});
    CHECK(args({{"Entrypoint", nullptr}, {"Cmd", {"/cmd", "arg"}}}) == json {"/cmd", "arg"});
    CHECK(args({{"Entrypoint", json::array()}, {"Cmd", {"/cmd"}}}) == json {"/cmd"});
    CHECK(args({{"Entrypoint", {"/entry"}}, {"Cmd", json::array()}}) == json {"/entry"});
    // Neither: empty args, which create rejects with its own error.
    CHECK(args(json::object()) == json::array());
    CHECK(args({{"Entrypoint", nullptr}, {"Cmd", nullptr}}) == json::array());
    // No Config at all, or a null one (Docker writes that for scratch images).
    CHECK(convert_ok(R"({"architecture": "amd64", "os": "linux"})")["process"]["args"] == json::array());
    CHECK(convert_ok(R"({"os": "linux", "config": null})")["process"]["args"] == json::array());
    // Arguments are kept verbatim, spaces and empty strings included.
    CHECK(args({{"Cmd", {"sh", "-c", "echo a  b", ""}}}) == json {"sh", "-c", "echo a  b", ""});
}

TEST_CASE("image convert: Env verbatim, default PATH only when the image has none")
{
    auto env = [](const json& config) { return convert_ok(image_with(config))["process"]["env"]; };
    CHECK(env({{"Env", {"PATH=/opt/bin", "A=1"}}}) == json {"PATH=/opt/bin", "A=1"});
    CHECK(env({{"Env", {"A=1", "PATH="}}}) == json {"A=1", "PATH="});
    CHECK(env({{"Env", {"A=1", "B=x=y"}}}) == json {default_path, "A=1", "B=x=y"});
    // PATHS and MYPATH are not PATH.
    CHECK(env({{"Env", {"PATHS=/x", "MYPATH=/y"}}}) == json {default_path, "PATHS=/x", "MYPATH=/y"});
    CHECK(env({{"Env", nullptr}}) == json {default_path});
    CHECK(env(json::object()) == json {default_path});
    // No TERM: the process has no terminal.
    for (const auto& e : env({{"Env", {"A=1"}}}))
        CHECK_FALSE(e.get<std::string>().starts_with("TERM="));
    // The image's own TERM is the image's business.
    CHECK(env({{"Env", {"TERM=dumb", "PATH=/bin"}}}) == json {"TERM=dumb", "PATH=/bin"});
}

TEST_CASE("image convert: WorkingDir")
{
    CHECK(convert_ok(image_with({{"WorkingDir", "/srv/app"}}))["process"]["cwd"] == "/srv/app");
    CHECK(convert_ok(image_with({{"WorkingDir", ""}}))["process"]["cwd"] == "/");
    CHECK(convert_ok(image_with({{"WorkingDir", nullptr}}))["process"]["cwd"] == "/");
    CHECK(convert_ok(image_with(json::object()))["process"]["cwd"] == "/");
    CHECK(convert_error(image_with({{"WorkingDir", "srv"}})) ==
          R"(image config: config.WorkingDir: "srv" is not an absolute path)");
}

TEST_CASE("image convert: Config.User becomes process.user")
{
    json alice = convert_ok(image_with({{"User", "alice"}, {"Cmd", {"id"}}}));
    CHECK(alice["process"]["user"] == json {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10, 50}}});

    json numeric = convert_ok(image_with({{"User", "1001:7"}}));
    CHECK(numeric["process"]["user"] == json {{"uid", 1001}, {"gid", 7}});
    CHECK_FALSE(numeric["process"]["user"].contains("additionalGids"));

    CHECK(convert_ok(image_with({{"User", ""}}))["process"]["user"] == json {{"uid", 0}, {"gid", 0}});

    // The key order inside user is the runtime-spec's.
    ojson ordered = ojson::parse(convert_text(image_with({{"User", "alice"}})));
    std::vector<std::string> keys;
    for (const auto& [key, value] : ordered["process"]["user"].items())
        keys.push_back(key);
    CHECK(keys == std::vector<std::string> {"uid", "gid", "additionalGids"});

    // The runtime accepts what the conversion writes for a user with groups.
    auto parsed = spec::parse_config(convert_text(image_with({{"User", "alice"}, {"Cmd", {"id"}}})), "/b");
    REQUIRE(parsed.has_value());
    CHECK(parsed->process.user.uid == 1000);
    CHECK(parsed->process.user.additional_gids == std::vector<uint32_t> {10, 50});

    CHECK(convert_error(image_with({{"User", "mallory"}})) == R"(image user "mallory": no such user in /etc/passwd)");
    CHECK(contains(convert_error(image_with({{"User", "alice"}}), UserFiles {}), "the image has no /etc/passwd"));
}

TEST_CASE("image convert: implicit annotations from the image config")
{
    json image = {
        {"architecture", "arm64"},
        {"os", "linux"},
        {"variant", "v8"},
        {"os.version", "10.0.17763"},
        {"os.features", {"win32k", "x"}},
        {"author", "Jane <jane@example.com>"},
        {"created", "2024-01-02T03:04:05.123456789Z"},
        {"config",
         {{"StopSignal", "SIGQUIT"},
          {"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}, {"443/tcp", json::object()}}},
          {"Volumes", {{"/data", json::object()}}}}},
    };
    ConvertOptions options;
    options.ref_name = "v1.2";
    json doc = convert_ok(image.dump(), image_files(), options);
    CHECK(doc["annotations"] == json {
                                    {"org.opencontainers.image.architecture", "arm64"},
                                    {"org.opencontainers.image.os", "linux"},
                                    {"org.opencontainers.image.variant", "v8"},
                                    {"org.opencontainers.image.os.version", "10.0.17763"},
                                    {"org.opencontainers.image.os.features", "win32k,x"},
                                    {"org.opencontainers.image.author", "Jane <jane@example.com>"},
                                    {"org.opencontainers.image.created", "2024-01-02T03:04:05.123456789Z"},
                                    {"org.opencontainers.image.stopSignal", "SIGQUIT"},
                                    {"org.opencontainers.image.exposedPorts", "443/tcp,53/udp,80/tcp"},
                                    {"org.opencontainers.image.ref.name", "v1.2"},
                                });
    // StopSignal is only an annotation: the process is the default spec's otherwise.
    json def = json::parse(spec::default_spec_json(false, 0, 0));
    CHECK(doc["process"]["capabilities"] == def["process"]["capabilities"]);
    CHECK(doc["process"].size() == def["process"].size());
    // Volumes do not become mounts (and do not fail the conversion).
    CHECK(doc["mounts"] == def["mounts"]);

    // Empty fields and an empty ref name add nothing.
    json sparse = convert_ok(
        R"({"os": "linux", "architecture": "amd64", "variant": "", "config": {"StopSignal": "", "ExposedPorts": {}}})");
    CHECK(sparse["annotations"] ==
          json {{"org.opencontainers.image.architecture", "amd64"}, {"org.opencontainers.image.os", "linux"}});

    // No annotations at all: no annotations key.
    json bare = convert_ok(R"({"config": {"Cmd": ["x"]}})");
    CHECK_FALSE(bare.contains("annotations"));
}

TEST_CASE("image convert: labels become annotations and win over implicit ones")
{
    json image = {
        {"architecture", "amd64"},
        {"os", "linux"},
        {"config",
         {{"StopSignal", "SIGTERM"},
          {"Labels",
           {{"com.example.team", "infra"},
            {"org.opencontainers.image.os", "from-label"},
            {"org.opencontainers.image.stopSignal", "SIGINT"},
            {"org.opencontainers.image.ref.name", "label-ref"},
            {"empty", ""}}}}},
    };
    ConvertOptions options;
    options.ref_name = "manifest-ref";
    json a = convert_ok(image.dump(), image_files(), options)["annotations"];
    CHECK(a["com.example.team"] == "infra");
    CHECK(a["empty"] == "");
    CHECK(a["org.opencontainers.image.os"] == "from-label");
    CHECK(a["org.opencontainers.image.stopSignal"] == "SIGINT");
    // ref.name comes from the manifest: a label takes precedence over it too.
    CHECK(a["org.opencontainers.image.ref.name"] == "label-ref");
    CHECK(a["org.opencontainers.image.architecture"] == "amd64");
    CHECK(a.size() == 6);

    // Without the conflicting label, the manifest's ref name is used.
    json plain = {{"os", "linux"}, {"config", {{"Labels", {{"a", "b"}}}}}};
    json b = convert_ok(plain.dump(), image_files(), options)["annotations"];
    CHECK(b == json {{"a", "b"}, {"org.opencontainers.image.os", "linux"},
                     {"org.opencontainers.image.ref.name", "manifest-ref"}});
}

TEST_CASE("image convert: rootless bundle for a root image")
{
    ConvertOptions options;
    options.rootless = true;
    options.host_uid = 1000;
    options.host_gid = 1001;
    std::string text = convert_text(image_with({{"Cmd", {"sh"}}}), image_files(), options);
    json doc = json::parse(text);
    CHECK(doc["linux"]["uidMappings"] == json::array({{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}));
    CHECK(doc["linux"]["gidMappings"] == json::array({{{"containerID", 0}, {"hostID", 1001}, {"size", 1}}}));
    CHECK(doc["linux"] == json::parse(spec::default_spec_json(true, 1000, 1001))["linux"]);
    CHECK(doc["process"]["user"] == json {{"uid", 0}, {"gid", 0}});
    CHECK(doc["process"]["terminal"] == false);
    CHECK(spec::parse_config(text, "/b").has_value());

    // "root" by name: uid 0, gid 0, and its supplementary groups dropped (only root is
    // mapped, and setgroups is denied in that user namespace).
    json root = convert_ok(image_with({{"User", "root"}}), image_files(), options);
    CHECK(root["process"]["user"] == json {{"uid", 0}, {"gid", 0}});
    CHECK(convert_ok(image_with({{"User", "0:0"}}), image_files(), options)["process"]["user"] ==
          json {{"uid", 0}, {"gid", 0}});
}

TEST_CASE("image convert: rootless bundle refuses an image that runs as another user")
{
    ConvertOptions options;
    options.rootless = true;
    options.host_uid = 1000;
    options.host_gid = 1000;
    CHECK(convert_error(image_with({{"User", "alice"}}), image_files(), options) ==
          R"(image user "alice" runs as uid:gid 1000:1000, but the rootless bundle maps only root )"
          R"((uid 0 and gid 0) to the calling user)");
    // A non-root gid alone is as unmapped as a non-root uid.
    CHECK(contains(convert_error(image_with({{"User", "0:5"}}), image_files(), options), "runs as uid:gid 0:5"));
    CHECK(contains(convert_error(image_with({{"User", "4242"}}), image_files(), options), "runs as uid:gid 4242:0"));
    // The same image converts fine for a rootful bundle.
    CHECK(convert_ok(image_with({{"User", "0:5"}}))["process"]["user"] == json {{"uid", 0}, {"gid", 5}});
}

TEST_CASE("image convert: malformed image configs are errors, not exceptions")
{
    CHECK(contains(convert_error(""), "image config: invalid JSON"));
    CHECK(contains(convert_error("{\"os\": "), "image config: invalid JSON"));
    CHECK(contains(convert_error("not json"), "image config: invalid JSON"));
    CHECK(convert_error("[1, 2]") == "image config: expected a JSON object, got array");
    CHECK(convert_error("\"text\"") == "image config: expected a JSON object, got string");
    CHECK(convert_error("null") == "image config: expected a JSON object, got null");
    CHECK(convert_error(std::string(5000, '[') + std::string(5000, ']')) ==
          "image config: nested more than 1000 levels deep");

    CHECK(convert_error(R"({"config": "x"})") == "image config: config: must be an object, got string");
    CHECK(convert_error(R"({"config": []})") == "image config: config: must be an object, got array");
    CHECK(convert_error(image_with({{"Cmd", "echo hi"}})) ==
          "image config: config.Cmd: must be an array of strings, got string");
    CHECK(convert_error(image_with({{"Entrypoint", {"/bin/sh", 3}}})) ==
          "image config: config.Entrypoint[1]: must be a string, got number");
    CHECK(convert_error(image_with({{"Env", {"A=1", 1}}})) == "image config: config.Env[1]: must be a string, got number");
    CHECK(convert_error(image_with({{"Env", {{{"A", "1"}}}}})) ==
          "image config: config.Env[0]: must be a string, got object");
    CHECK(convert_error(image_with({{"Env", {"A=1", "NOEQUALS"}}})) ==
          R"(image config: config.Env[1]: "NOEQUALS" is not NAME=VALUE)");
    CHECK(convert_error(image_with({{"Env", {"=x"}}})) == R"(image config: config.Env[0]: "=x" is not NAME=VALUE)");
    CHECK(convert_error(image_with({{"User", 1000}})) == "image config: config.User: must be a string, got number");
    CHECK(convert_error(image_with({{"WorkingDir", true}})) ==
          "image config: config.WorkingDir: must be a string, got boolean");
    CHECK(convert_error(image_with({{"Labels", {{"a", 1}}}})) ==
          "image config: config.Labels.a: must be a string, got number");
    CHECK(convert_error(image_with({{"Labels", {"a"}}})) == "image config: config.Labels: must be an object, got array");
    CHECK(convert_error(image_with({{"ExposedPorts", {"80/tcp"}}})) ==
          "image config: config.ExposedPorts: must be an object, got array");
    CHECK(convert_error(image_with({{"StopSignal", 15}})) == "image config: config.StopSignal: must be a string, got number");
    CHECK(convert_error(R"({"os": 1})") == "image config: os: must be a string, got number");
    CHECK(convert_error(R"({"os.features": "sse4"})") == "image config: os.features: must be an array of strings, got string");
    CHECK(convert_error(R"({"created": {}})") == "image config: created: must be a string, got object");

    // Fields the conversion does not use are not its business, whatever their shape.
    CHECK(convert_ok(image_with({{"Volumes", "odd"}, {"Healthcheck", 5}}))["process"]["cwd"] == "/");
    CHECK(convert_ok(R"({"history": 7, "rootfs": "x"})")["process"]["terminal"] == false);
}
