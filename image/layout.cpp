#include "image/layout.hpp"

#include "common/fs.hpp"
#include "common/json_error.hpp"
#include "common/sys.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::image {

namespace {

using json = nlohmann::json;

constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kRefName = "org.opencontainers.image.ref.name";
constexpr uint64_t kDocumentLimit = 4 << 20;  // index and manifest documents
constexpr uint64_t kConfigLimit = 16 << 20;   // image configs carry history; still small
constexpr int kMaxIndexDepth = 8;

bool is_index(const std::string& mt) { return mt == kOciIndex || mt == kDockerList; }
bool is_manifest(const std::string& mt) { return mt == kOciManifest || mt == kDockerManifest; }

Result<json> parse_object(std::string_view text, const std::string& what)
{
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded())
        return fail(what + ": invalid JSON: " + json_error_detail(text));
    if (!j.is_object())
        return fail(what + ": not a JSON object");
    return j;
}

Result<std::string> get_string(const json& j, const char* key, const std::string& what, bool required)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required)
            return fail(what + ": no \"" + key + "\"");
        return std::string();
    }
    if (!it->is_string())
        return fail(what + ": \"" + key + "\" is not a string");
    return it->get<std::string>();
}

Result<Descriptor> descriptor_from(const json& j, const std::string& what)
{
    if (!j.is_object())
        return fail(what + ": a descriptor is not an object");
    Descriptor d;
    d.media_type = TRY(get_string(j, "mediaType", what, true));
    std::string digest = TRY(get_string(j, "digest", what, true));
    d.digest = TRY_CTX(parse_digest(digest), what);
    auto size = j.find("size");
    if (size == j.end() || !size->is_number_unsigned())
        return fail(what + ": descriptor " + digest + " has no valid \"size\"");
    d.size = size->get<uint64_t>();
    if (auto a = j.find("annotations"); a != j.end() && !a->is_null()) {
        if (!a->is_object())
            return fail(what + ": descriptor " + digest + ": \"annotations\" is not an object");
        for (auto& [k, v] : a->items()) {
            if (!v.is_string())
                return fail(what + ": descriptor " + digest + ": annotation " + k + " is not a string");
            d.annotations[k] = v.get<std::string>();
        }
    }
    if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
        if (!p->is_object())
            return fail(what + ": descriptor " + digest + ": \"platform\" is not an object");
        Platform pl;
        pl.os = TRY(get_string(*p, "os", what, true));
        pl.architecture = TRY(get_string(*p, "architecture", what, true));
        pl.variant = TRY(get_string(*p, "variant", what, false));
        d.platform = pl;
    }
    return d;
}

bool platform_matches(const Platform& have, const Platform& want)
{
    if (have.os != want.os || have.architecture != want.architecture)
        return false;
    return want.variant.empty() || have.variant == want.variant;
}

// Names a tar layout may hold, normalised ("./" and trailing "/" dropped); empty when the
// entry is not part of a layout.
std::string layout_member(std::string name)
{
    while (name.starts_with("./"))
        name.erase(0, 2);
    while (!name.empty() && name.back() == '/')
        name.pop_back();
    return name;
}

Result<> extract_tar_layout(const std::string& tar_path, BorrowedFd scratch)
{
    struct archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    struct Closer {
        struct archive* a;
        ~Closer() { archive_read_free(a); }
    } closer {a};
    if (archive_read_open_filename(a, tar_path.c_str(), 1 << 20) != ARCHIVE_OK)
        return fail("open layout archive " + tar_path + ": " + archive_error_string(a));
    if (::mkdirat(scratch.get(), "blobs", 0755) < 0 && errno != EEXIST)
        return fail_errno("make blobs in the scratch copy of " + tar_path);
    bool seen_index = false;
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return fail("read layout archive " + tar_path + ": " + archive_error_string(a));
        const char* raw = archive_entry_pathname(e);
        std::string name = layout_member(raw ? raw : "");
        if (archive_entry_filetype(e) == AE_IFDIR)
            continue;
        std::string target;
        if (name == "oci-layout" || name == "index.json") {
            target = name;
        } else if (name.starts_with("blobs/")) {
            std::string rest = name.substr(6);
            size_t slash = rest.find('/');
            if (slash == std::string::npos)
                return fail("layout archive " + tar_path + ": unexpected entry " + name);
            // parse_digest admits only [a-z0-9]+ algorithm names and hex: a safe file name.
            auto d = parse_digest(rest.substr(0, slash) + ":" + rest.substr(slash + 1));
            if (!d)
                return fail("layout archive " + tar_path + ": entry " + name + " is not a blob name");
            if (::mkdirat(scratch.get(), ("blobs/" + d->algorithm).c_str(), 0755) < 0 && errno != EEXIST)
                return fail_errno("make blobs/" + d->algorithm + " in the scratch copy of " + tar_path);
            target = "blobs/" + d->algorithm + "/" + d->hex;
        } else {
            continue; // other files beside a layout are none of ours
        }
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr)
            return fail("layout archive " + tar_path + ": " + name + " is not a regular file");
        int fd = ::openat(scratch.get(), target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            return fail_errno("layout archive " + tar_path + ": write " + name);
        Fd out(fd);
        if (archive_read_data_into_fd(a, out.get()) != ARCHIVE_OK)
            return fail("layout archive " + tar_path + ": read " + name + ": " + archive_error_string(a));
        seen_index |= target == "index.json";
    }
    if (!seen_index)
        return fail("layout archive " + tar_path + ": no index.json");
    return {};
}

} // namespace

Result<Platform> parse_platform(std::string_view text)
{
    Platform p;
    std::vector<std::string> parts;
    size_t pos = 0;
    for (;;) {
        size_t slash = text.find('/', pos);
        parts.emplace_back(text.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos));
        if (slash == std::string_view::npos)
            break;
        pos = slash + 1;
    }
    if (parts.size() < 2 || parts.size() > 3)
        return fail("platform \"" + std::string(text) + "\": expected OS/ARCH[/VARIANT]");
    for (auto& s : parts)
        if (s.empty())
            return fail("platform \"" + std::string(text) + "\": empty part");
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3)
        p.variant = parts[2];
    return p;
}

bool is_layer_media_type(std::string_view mt)
{
    for (std::string_view base : {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar"}) {
        if (mt.starts_with(base)) {
            std::string_view rest = mt.substr(base.size());
            if (rest.empty() || rest == "+gzip" || rest == "+zstd")
                return true;
        }
    }
    return mt == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
           mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" ||
           mt == "application/vnd.docker.image.rootfs.diff.tar";
}

LayoutRef split_layout_ref(const std::string& arg)
{
    struct stat st;
    if (::stat(arg.c_str(), &st) == 0)
        return {arg, ""};
    for (const char* alg : {":sha256:", ":sha512:"}) {
        size_t at = arg.rfind(alg);
        if (at != std::string::npos && at > 0)
            return {arg.substr(0, at), arg.substr(at + 1)};
    }
    size_t colon = arg.rfind(':');
    // A colon before the last slash belongs to the path.
    if (colon == std::string::npos || colon == 0 || (arg.find('/', colon) != std::string::npos))
        return {arg, ""};
    return {arg.substr(0, colon), arg.substr(colon + 1)};
}

Result<Layout> Layout::open(const std::string& path, const std::string& scratch)
{
    struct stat st;
    if (::stat(path.c_str(), &st) < 0)
        return fail_errno("image layout " + path);
    Layout l;
    l.m_path = path;
    if (S_ISDIR(st.st_mode)) {
        l.m_dir = TRY(fs::open(path, O_PATH | O_DIRECTORY));
    } else if (S_ISREG(st.st_mode)) {
        Fd dir = TRY(fs::open(scratch, O_PATH | O_DIRECTORY));
        TRY(extract_tar_layout(path, dir.borrow()));
        l.m_dir = std::move(dir);
    } else {
        return fail("image layout " + path + ": neither a directory nor a tar file");
    }
    // oci-layout is how a layout says what it is; its version must be one we read.
    int fd = ::openat(l.m_dir.get(), "oci-layout", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail_errno("image layout " + path + ": oci-layout");
    Fd layout_fd(fd);
    std::string text = TRY(fs::read_fd(layout_fd.borrow()));
    json j = TRY(parse_object(text, "image layout " + path + ": oci-layout"));
    std::string version = TRY(get_string(j, "imageLayoutVersion", "image layout " + path + ": oci-layout", true));
    if (!version.starts_with("1."))
        return fail("image layout " + path + ": unsupported imageLayoutVersion " + version);
    return l;
}

Result<Fd> Layout::open_blob(const Descriptor& d) const
{
    std::string rel = "blobs/" + d.digest.algorithm + "/" + d.digest.hex;
    int fd = sys::openat2_resolved(m_dir.get(), rel, O_RDONLY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (fd < 0)
        return fail_errno("image layout " + m_path + ": blob " + d.digest.str());
    Fd out(fd);
    struct stat st;
    if (::fstat(out.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return fail("image layout " + m_path + ": blob " + d.digest.str() + " is not a regular file");
    return out;
}

Result<std::string> Layout::read_blob(const Descriptor& d, uint64_t limit) const
{
    if (d.size > limit)
        return fail("blob " + d.digest.str() + ": " + std::to_string(d.size) + " bytes, over the " +
                    std::to_string(limit) + " allowed for a " + d.media_type);
    Fd fd = TRY(open_blob(d));
    std::string data;
    data.resize(d.size + 1); // one more: a longer file shows
    size_t got = 0;
    while (got < data.size()) {
        ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno("read blob " + d.digest.str());
        if (n == 0)
            break;
        got += static_cast<size_t>(n);
    }
    data.resize(got);
    TRY(verify_bytes(data, d.digest, d.size));
    return data;
}

Result<Image> Layout::resolve(std::string_view ref, const Platform& platform) const
{
    std::string where = "image layout " + m_path;
    int ifd = ::openat(m_dir.get(), "index.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (ifd < 0)
        return fail_errno(where + ": index.json");
    Fd index_fd(ifd);
    std::string index_text = TRY(fs::read_fd(index_fd.borrow()));
    if (index_text.size() > kDocumentLimit)
        return fail(where + ": index.json is too large");

    // A candidate: a descriptor, the ref name inherited from the top level, and whether it is
    // chosen (no digest was asked for, or it lies below the entry the digest names).
    struct Candidate {
        Descriptor d;
        std::string ref_name;
        bool chosen;
    };
    auto list_manifests = [&](const std::string& text, const std::string& what) -> Result<std::vector<Descriptor>> {
        json j = TRY(parse_object(text, what));
        auto m = j.find("manifests");
        if (m == j.end() || !m->is_array())
            return fail(what + ": no \"manifests\" array");
        std::vector<Descriptor> out;
        for (auto& item : *m)
            out.push_back(TRY(descriptor_from(item, what)));
        return out;
    };

    std::vector<Descriptor> top = TRY(list_manifests(index_text, where + ": index.json"));
    std::optional<Digest> want_digest;
    if (!ref.empty() && (ref.starts_with("sha256:") || ref.starts_with("sha512:")))
        want_digest = TRY(parse_digest(ref));

    std::vector<Candidate> pending;
    if (!ref.empty() && !want_digest) {
        std::string tags;
        for (auto& d : top) {
            auto it = d.annotations.find(kRefName);
            if (it == d.annotations.end())
                continue;
            if (it->second == ref)
                pending.push_back({d, it->second, true});
            tags += (tags.empty() ? "" : ", ") + it->second;
        }
        if (pending.empty())
            return fail(where + ": no image tagged \"" + std::string(ref) + "\"" +
                        (tags.empty() ? " (the index has no tags)" : " (tags: " + tags + ")"));
    } else {
        for (auto& d : top) {
            auto it = d.annotations.find(kRefName);
            pending.push_back({d, it == d.annotations.end() ? "" : it->second, !want_digest});
        }
    }

    // Expand indexes level by level; a digest reference may name an entry at any depth.
    std::vector<Candidate> manifests;
    std::vector<std::string> skipped;
    for (int depth = 0; !pending.empty(); ++depth) {
        if (depth > kMaxIndexDepth)
            return fail(where + ": indexes nested deeper than " + std::to_string(kMaxIndexDepth));
        std::vector<Candidate> next;
        for (auto& c : pending) {
            bool named = want_digest && c.d.digest == *want_digest;
            if (is_index(c.d.media_type)) {
                std::string text = TRY(read_blob(c.d, kDocumentLimit));
                auto children = TRY(list_manifests(text, where + ": index " + c.d.digest.str()));
                for (auto& child : children)
                    next.push_back({child, c.ref_name, c.chosen || named});
            } else if (is_manifest(c.d.media_type)) {
                if (named) {
                    manifests.push_back(c); // asked for by digest: the platform check is the config's
                } else if (c.chosen) {
                    if (c.d.platform && !platform_matches(*c.d.platform, platform)) {
                        skipped.push_back(c.d.platform->str());
                        continue;
                    }
                    manifests.push_back(c);
                }
            } else if (named) {
                return fail(where + ": " + c.d.digest.str() + " is a " + c.d.media_type + ", not a manifest or index");
            }
            // Other artifacts in an index (signatures, attestations) are not images.
        }
        pending = std::move(next);
    }
    if (want_digest && manifests.empty())
        return fail(where + ": no manifest or index with digest " + want_digest->str());
    if (manifests.empty()) {
        std::string have;
        for (auto& s : skipped)
            have += (have.empty() ? "" : ", ") + s;
        return fail(where + ": no image" + (ref.empty() ? std::string() : " \"" + std::string(ref) + "\"") + " for platform " +
                    platform.str() + (have.empty() ? "" : " (the index has " + have + ")"));
    }
    if (manifests.size() > 1) {
        // Identical descriptors reached twice (two tags on one manifest) are one image.
        bool same = true;
        for (auto& c : manifests)
            same &= c.d.digest == manifests[0].d.digest;
        if (!same)
            return fail(where + ": " + std::to_string(manifests.size()) + " images match" +
                        (ref.empty() ? "; name one as LAYOUT:TAG or LAYOUT:DIGEST" : " \"" + std::string(ref) + "\""));
    }

    Image img;
    img.manifest = manifests[0].d;
    img.ref_name = manifests[0].ref_name;
    std::string mwhat = where + ": manifest " + img.manifest.digest.str();
    std::string mtext = TRY(read_blob(img.manifest, kDocumentLimit));
    json m = TRY(parse_object(mtext, mwhat));
    if (auto mt = m.find("mediaType"); mt != m.end() && mt->is_string() && mt->get<std::string>() != img.manifest.media_type)
        return fail(mwhat + ": its mediaType " + mt->get<std::string>() + " is not the descriptor's " + img.manifest.media_type);
    auto cfg = m.find("config");
    if (cfg == m.end())
        return fail(mwhat + ": no \"config\"");
    img.config = TRY(descriptor_from(*cfg, mwhat));
    auto layers = m.find("layers");
    if (layers == m.end() || !layers->is_array())
        return fail(mwhat + ": no \"layers\" array");
    for (auto& l : *layers) {
        Descriptor d = TRY(descriptor_from(l, mwhat));
        if (!is_layer_media_type(d.media_type))
            return fail(mwhat + ": layer " + d.digest.str() + ": unsupported layer media type \"" + d.media_type + "\"");
        img.layers.push_back(std::move(d));
    }
    img.config_json = TRY(read_blob(img.config, kConfigLimit));
    json c = TRY(parse_object(img.config_json, where + ": config " + img.config.digest.str()));
    // The config says what the image runs on; a manifest reached without a platform in its
    // descriptor is checked here.
    std::string os = TRY(get_string(c, "os", where + ": config", false));
    std::string arch = TRY(get_string(c, "architecture", where + ": config", false));
    if ((!os.empty() && os != platform.os) || (!arch.empty() && arch != platform.architecture))
        return fail(where + ": the image is for " + os + "/" + arch + ", not " + platform.str());
    return img;
}

} // namespace husk::image
