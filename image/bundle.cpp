#include "image/bundle.hpp"

#include "common/fs.hpp"
#include "common/sys.hpp"
#include "image/convert.hpp"
#include "image/unpack.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace husk::image {

namespace {

constexpr const char* kMarker = "husk-image.json";
constexpr uint64_t kUserFileLimit = 4 << 20;

// A file of the image (/etc/passwd, /etc/group) read as the container would see it: the
// lookup stays inside the rootfs whatever symlinks it holds.
Result<std::optional<std::string>> read_in_rootfs(BorrowedFd rootfs, const char* path)
{
    int fd = sys::openat2_resolved(rootfs.get(), path, O_RDONLY, RESOLVE_IN_ROOT);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return std::optional<std::string>();
        return fail_errno(std::string("open the image's ") + path);
    }
    Fd f(fd);
    struct stat st;
    if (::fstat(f.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return fail(std::string("the image's ") + path + " is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > kUserFileLimit)
        return fail(std::string("the image's ") + path + " is too large");
    return std::optional<std::string>(TRY(fs::read_fd(f.borrow())));
}

// Overlay options are split on ',' and lowerdir on ':'; such paths cannot be passed.
Result<> check_overlay_path(const std::string& p)
{
    if (p.find_first_of(",:\\") != std::string::npos)
        return fail("path " + p + " holds ',', ':' or '\\', which overlay mount options cannot carry");
    return {};
}

// Layer `d`, verified and unpacked into the cache once; its directory.
Result<std::string> cached_layer(const Layout& layout, const Descriptor& d, const std::string& cache, bool* hit)
{
    std::string final_dir = cache + "/layers/" + d.digest.algorithm + "/" + d.digest.hex;
    struct stat st;
    if (::lstat(final_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        *hit = true;
        return final_dir;
    }
    *hit = false;
    TRY(fs::mkdir_all(cache + "/layers/" + d.digest.algorithm, 0700));
    TRY(fs::mkdir_all(cache + "/tmp", 0700));
    std::string tmp = cache + "/tmp/" + d.digest.hex + "." + std::to_string(::getpid());
    (void)fs::remove_all(tmp);
    if (::mkdir(tmp.c_str(), 0755) < 0)
        return fail_errno("make " + tmp);
    auto result = [&]() -> Result<> {
        Fd blob = TRY(layout.open_blob(d));
        TRY(verify_stream(blob.borrow(), d.digest, d.size));
        if (::lseek(blob.get(), 0, SEEK_SET) < 0)
            return fail_errno("rewind blob " + d.digest.str());
        Fd root = TRY(fs::open(tmp, O_PATH | O_DIRECTORY));
        ApplyOptions opts;
        opts.whiteouts = WhiteoutMode::Overlay;
        TRY(apply_layer(root.borrow(), blob.borrow(), d.digest.str(), opts));
        // A finished layer appears under its digest in one step; a concurrent unpack of the
        // same layer that got there first wins, and ours goes.
        if (::rename(tmp.c_str(), final_dir.c_str()) < 0 && errno != ENOTEMPTY && errno != EEXIST)
            return fail_errno("move layer into the cache at " + final_dir);
        return {};
    }();
    (void)fs::remove_all(tmp);
    if (!result)
        return std::unexpected(result.error());
    return final_dir;
}

Result<> unpack_into(const UnpackRequest& req, const std::string& bundle, UnpackReport& report)
{
    auto ref = split_layout_ref(req.image);
    std::string scratch = bundle + "/.husk-layout";
    if (::mkdir(scratch.c_str(), 0700) < 0)
        return fail_errno("make " + scratch);
    Layout layout = TRY(Layout::open(fs::absolute(ref.path, fs::current_dir()), scratch));
    Image img = TRY(layout.resolve(ref.ref, req.platform));
    report.manifest = img.manifest.digest.str();
    report.layers = img.layers.size();

    std::string rootfs = bundle + "/rootfs";
    if (::mkdir(rootfs.c_str(), 0755) < 0)
        return fail_errno("make " + rootfs);

    if (!req.cache_dir.empty()) {
        std::string cache = fs::absolute(req.cache_dir, fs::current_dir());
        TRY(check_overlay_path(cache));
        TRY(check_overlay_path(bundle));
        std::string lower;
        for (const auto& d : img.layers) {
            bool hit = false;
            std::string dir = TRY(cached_layer(layout, d, cache, &hit));
            report.layers_from_cache += hit ? 1 : 0;
            lower = lower.empty() ? dir : dir + ":" + lower; // the last layer is the top
        }
        if (img.layers.empty())
            return fail("the image has no layers: nothing to overlay");
        std::string upper = bundle + "/.husk-overlay/upper", work = bundle + "/.husk-overlay/work";
        TRY(fs::mkdir_all(upper, 0755));
        TRY(fs::mkdir_all(work, 0700));
        std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
        if (::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) < 0)
            return fail_errno("mount the overlay of " + std::to_string(img.layers.size()) + " cached layers on " + rootfs);
        report.overlay = true;
    } else {
        Fd root = TRY(fs::open(rootfs, O_PATH | O_DIRECTORY));
        ApplyOptions opts;
        if (req.rootless || ::geteuid() != 0)
            opts.ownership = Ownership::Ignore;
        for (const auto& d : img.layers) {
            Fd blob = TRY(layout.open_blob(d));
            TRY(verify_stream(blob.borrow(), d.digest, d.size));
            if (::lseek(blob.get(), 0, SEEK_SET) < 0)
                return fail_errno("rewind blob " + d.digest.str());
            ApplyStats stats = TRY(apply_layer(root.borrow(), blob.borrow(), d.digest.str(), opts));
            report.entries += stats.entries;
            report.bytes += stats.bytes;
            for (auto& w : stats.warnings)
                report.warnings.push_back(std::move(w));
        }
    }

    // Opened again: after an overlay mount the path names the merged tree.
    Fd root = TRY(fs::open(rootfs, O_PATH | O_DIRECTORY));
    UserFiles files;
    files.passwd = TRY(read_in_rootfs(root.borrow(), "/etc/passwd"));
    files.group = TRY(read_in_rootfs(root.borrow(), "/etc/group"));
    ConvertOptions conv;
    conv.rootless = req.rootless;
    conv.host_uid = ::geteuid();
    conv.host_gid = ::getegid();
    conv.ref_name = img.ref_name;
    std::string config = TRY(runtime_config_from_image(img.config_json, files, conv));
    TRY(fs::write_file(bundle + "/config.json", config, 0644));

    TRY(fs::remove_all(scratch));
    nlohmann::ordered_json marker = {
        {"image", req.image},
        {"manifest", report.manifest},
        {"overlay", report.overlay},
    };
    if (!req.owner_id.empty()) {
        marker["owner"] = req.owner_id;
        marker["root"] = req.owner_root;
    }
    TRY(fs::write_file(bundle + "/" + kMarker, marker.dump() + "\n", 0644));
    return {};
}

void unmount_rootfs(const std::string& bundle)
{
    std::string rootfs = bundle + "/rootfs";
    // Not a mount point (EINVAL) is the plain-directory case.
    (void)::umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

} // namespace

Result<UnpackReport> unpack_image(const UnpackRequest& req)
{
    if (req.bundle.empty())
        return fail("no bundle directory given");
    if (!req.cache_dir.empty() && (req.rootless || ::geteuid() != 0))
        return fail("--cache mounts an overlay and needs root; it cannot be used rootless");
    std::string bundle = fs::absolute(req.bundle, fs::current_dir());
    struct stat st;
    bool exists = ::lstat(bundle.c_str(), &st) == 0;
    if (exists) {
        if (!S_ISDIR(st.st_mode))
            return fail("bundle " + bundle + " exists and is not a directory");
        Fd dir = TRY(fs::open(bundle, O_PATH | O_DIRECTORY | O_NOFOLLOW));
        if (!TRY_CTX(fs::list_dir(dir.borrow()), "bundle " + bundle).empty())
            return fail("bundle " + bundle + " exists and is not empty");
    } else if (::mkdir(bundle.c_str(), 0700) < 0) {
        return fail_errno("make bundle directory " + bundle);
    }

    UnpackReport report;
    auto r = unpack_into(req, bundle, report);
    if (!r) {
        // Nothing of a failed unpack stays: the overlay goes, then the files, then the
        // directory if it was ours.
        unmount_rootfs(bundle);
        if (exists) {
            auto dir = fs::open(bundle, O_PATH | O_DIRECTORY | O_NOFOLLOW);
            auto names = dir ? fs::list_dir(dir->borrow()) : std::unexpected(dir.error());
            for (const auto& n : names.value_or(std::vector<std::string>()))
                (void)fs::remove_all_at(dir->borrow(), n);
        } else {
            (void)fs::remove_all(bundle);
        }
        return std::unexpected(r.error());
    }
    return report;
}

Result<> remove_bundle(const std::string& bundle_arg)
{
    std::string bundle = fs::absolute(bundle_arg, fs::current_dir());
    std::string marker = bundle + "/" + kMarker;
    struct stat st;
    if (::lstat(marker.c_str(), &st) < 0 || !S_ISREG(st.st_mode))
        return fail("bundle " + bundle + ": no " + kMarker + ": not a bundle husk unpacked; not removing it");
    unmount_rootfs(bundle);
    TRY(fs::remove_all(bundle));
    return {};
}

std::string owned_bundle_path(const std::string& id)
{
    const char* base = ::getenv("HUSK_IMAGE_BUNDLES");
    return std::string(base != nullptr && *base != '\0' ? base : "/var/lib/husk/bundles") + "/" + id;
}

Result<> remove_owned_bundle(const std::string& id, const std::string& root)
{
    std::string bundle = owned_bundle_path(id);
    auto text = fs::read_file(bundle + "/" + kMarker);
    if (!text)
        return {};
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || j.value("owner", "") != id || j.value("root", "") != root)
        return {};
    return remove_bundle(bundle);
}

} // namespace husk::image
