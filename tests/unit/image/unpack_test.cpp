// The layer unpacker on tars built here with libarchive's writer: whiteouts, opaque
// directories, replacement, and the entries that must be refused.
#include "common/fs.hpp"
#include "image/unpack.hpp"

#include <archive_entry.h> // AE_IF* type constants only
#include <zlib.h>
#include <doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace husk;
using namespace husk::image;

namespace {

struct Entry {
    std::string name;
    mode_t type = AE_IFREG;
    std::string data;   // file content, or symlink target
    std::string link;   // hard link target
    mode_t mode = 0644;
};

Entry file(std::string name, std::string data = "x") { return {std::move(name), AE_IFREG, std::move(data), "", 0644}; }
Entry dir(std::string name) { return {std::move(name), AE_IFDIR, "", "", 0755}; }
Entry make_symlink(std::string name, std::string target) { return {std::move(name), AE_IFLNK, std::move(target), "", 0777}; }
Entry hardlink(std::string name, std::string target) { return {std::move(name), AE_IFREG, "", std::move(target), 0644}; }

// A ustar header field: octal, NUL-terminated, zero-padded.
void octal(char* field, size_t len, uint64_t value)
{
    std::snprintf(field, len, "%0*llo", static_cast<int>(len - 1), static_cast<unsigned long long>(value));
}

// The entries as a ustar archive, written by hand (libarchive's writer would pull every
// write format into the test binary). Names and targets must fit 100 bytes.
std::string ustar(const std::vector<Entry>& entries)
{
    std::string out;
    for (const auto& e : entries) {
        REQUIRE(e.name.size() < 100);
        REQUIRE(e.link.size() < 100);
        REQUIRE(e.data.size() < 100 + (e.type == AE_IFREG ? 1u << 20 : 0u));
        char h[512] = {};
        std::memcpy(h, e.name.data(), e.name.size());
        octal(h + 100, 8, e.mode);
        octal(h + 108, 8, 0);
        octal(h + 116, 8, 0);
        bool regular_data = e.type == AE_IFREG && e.link.empty();
        octal(h + 124, 12, regular_data ? e.data.size() : 0);
        octal(h + 136, 12, 1000000000);
        char type = '0';
        if (!e.link.empty()) {
            type = '1';
            std::memcpy(h + 157, e.link.data(), e.link.size());
        } else if (e.type == AE_IFLNK) {
            type = '2';
            std::memcpy(h + 157, e.data.data(), e.data.size());
        } else if (e.type == AE_IFDIR) {
            type = '5';
        }
        h[156] = type;
        std::memcpy(h + 257, "ustar", 6);
        std::memcpy(h + 263, "00", 2);
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (unsigned char c : h)
            sum += c;
        std::snprintf(h + 148, 8, "%06o", sum);
        out.append(h, 512);
        if (regular_data) {
            out += e.data;
            out.append((512 - e.data.size() % 512) % 512, '\0');
        }
    }
    out.append(1024, '\0');
    return out;
}

std::string gzip(const std::string& data)
{
    z_stream z {};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, data.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

Fd memfd_with(const std::string& bytes)
{
    int fd = ::memfd_create("layer", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    Fd out(fd);
    REQUIRE(::write(out.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    REQUIRE(::lseek(out.get(), 0, SEEK_SET) == 0);
    return out;
}

Fd make_tar(const std::vector<Entry>& entries, bool compress = false)
{
    std::string tar = ustar(entries);
    return memfd_with(compress ? gzip(tar) : tar);
}

struct TempRoot {
    std::string top;
    std::string root;
    Fd fd;
    TempRoot()
    {
        char tmpl[] = "/tmp/husk-unpack-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        top = tmpl;
        root = top + "/root";
        REQUIRE(::mkdir(root.c_str(), 0755) == 0);
        fd = fs::open(root, O_PATH | O_DIRECTORY).value();
    }
    ~TempRoot() { (void)fs::remove_all(top); }
    Result<ApplyStats> apply(const std::vector<Entry>& entries, WhiteoutMode mode = WhiteoutMode::Apply)
    {
        Fd tar = make_tar(entries);
        ApplyOptions opts;
        opts.whiteouts = mode;
        return apply_layer(fd.borrow(), tar.borrow(), "test", opts);
    }
    bool has(const std::string& rel) const
    {
        struct stat st;
        return ::lstat((root + "/" + rel).c_str(), &st) == 0;
    }
    std::string read(const std::string& rel) const { return fs::read_file(root + "/" + rel).value_or("<missing>"); }
};

} // namespace

TEST_CASE("image unpack: entry names are cleaned, and climbing names refused")
{
    CHECK(clean_entry_name("./a//b/").value() == "a/b");
    CHECK(clean_entry_name("./").value() == "");
    CHECK(clean_entry_name("a/./b").value() == "a/b");
    CHECK_FALSE(clean_entry_name("/etc/passwd"));
    CHECK_FALSE(clean_entry_name("../x"));
    CHECK_FALSE(clean_entry_name("a/../../x"));
    CHECK_FALSE(clean_entry_name("a/.."));
}

TEST_CASE("image unpack: files, directories, symlinks and hard links land with their content")
{
    TempRoot t;
    auto r = t.apply({dir("etc"), file("etc/hostname", "box\n"), make_symlink("etc/link", "hostname"),
                      hardlink("etc/hard", "etc/hostname"), file("deep/missing/parents", "p")});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
    CHECK(t.read("etc/hostname") == "box\n");
    CHECK(t.read("etc/link") == "box\n");
    CHECK(t.read("deep/missing/parents") == "p");
    struct stat a, b;
    REQUIRE(::stat((t.root + "/etc/hostname").c_str(), &a) == 0);
    REQUIRE(::stat((t.root + "/etc/hard").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_nlink == 2);
    CHECK((a.st_mode & 07777) == 0644);
    CHECK(a.st_mtim.tv_sec == 1000000000);
    struct stat d;
    REQUIRE(::stat((t.root + "/etc").c_str(), &d) == 0);
    CHECK((d.st_mode & 07777) == 0755);
    CHECK(d.st_mtim.tv_sec == 1000000000); // set after its entries were written
    CHECK(r->entries == 5);
}

TEST_CASE("image unpack: a gzip layer is detected from the stream")
{
    TempRoot t;
    Fd tar = make_tar({file("z", "zipped")}, true);
    REQUIRE(apply_layer(t.fd.borrow(), tar.borrow(), "gz", {}));
    CHECK(t.read("z") == "zipped");
}

TEST_CASE("image unpack: a whiteout removes a file or a tree of an earlier layer")
{
    TempRoot t;
    REQUIRE(t.apply({dir("a"), file("a/one"), file("a/two"), dir("b"), file("b/inner")}));
    auto r = t.apply({file("a/.wh.one", ""), file(".wh.b", ""), file("a/.wh.never-there", "")});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
    CHECK_FALSE(t.has("a/one"));
    CHECK_FALSE(t.has("a/.wh.one"));
    CHECK(t.has("a/two"));
    CHECK_FALSE(t.has("b"));
    CHECK_FALSE(t.has("a/.wh.never-there"));
}

TEST_CASE("image unpack: an opaque directory keeps only this layer's entries, wherever the marker is")
{
    for (bool marker_first : {true, false}) {
        CAPTURE(marker_first);
        TempRoot t;
        REQUIRE(t.apply({dir("d"), file("d/old"), dir("d/sub"), file("d/sub/old2"), file("keep")}));
        std::vector<Entry> layer = {dir("d/sub"), file("d/sub/new2"), file("d/new")};
        if (marker_first)
            layer.insert(layer.begin(), file("d/.wh..wh..opq", ""));
        else
            layer.push_back(file("d/.wh..wh..opq", ""));
        auto r = t.apply(layer);
        REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
        CHECK_FALSE(t.has("d/old"));
        CHECK_FALSE(t.has("d/sub/old2")); // below an opaque directory, the older tree is hidden too
        CHECK(t.has("d/new"));
        CHECK(t.has("d/sub/new2"));
        CHECK_FALSE(t.has("d/.wh..wh..opq"));
        CHECK(t.has("keep"));
    }
}

TEST_CASE("image unpack: an entry replaces an earlier one of another type")
{
    TempRoot t;
    REQUIRE(t.apply({dir("x"), file("x/inside"), file("y", "file")}));
    auto r = t.apply({file("x", "now a file"), dir("y"), file("y/z", "in dir")});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
    CHECK(t.read("x") == "now a file");
    CHECK(t.read("y/z") == "in dir");
}

TEST_CASE("image unpack: names and links that lead out of the root are refused")
{
    TempRoot t;
    std::string outside = t.top + "/outside";
    REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
    REQUIRE(fs::write_file(outside + "/secret", "s"));

    auto dotdot = t.apply({file("../outside/evil")});
    REQUIRE_FALSE(dotdot);
    CHECK(dotdot.error().what().find("\"..\"") != std::string::npos);

    auto absolute = t.apply({file(outside + "/evil")});
    REQUIRE_FALSE(absolute);
    CHECK(absolute.error().what().find("absolute") != std::string::npos);

    // A symlink out (absolute, or climbing with ".."), then a file through it.
    for (std::string target : {outside, std::string("../outside"), std::string("../../../../../../..") + outside}) {
        CAPTURE(target);
        TempRoot u;
        auto through = u.apply({make_symlink("link", target), file("link/evil")});
        REQUIRE_FALSE(through);
        CHECK(through.error().what().find("symlink that leads out of the root") != std::string::npos);
    }

    auto hard_out = t.apply({hardlink("stolen", "../outside/secret")});
    REQUIRE_FALSE(hard_out);
    auto hard_abs = t.apply({hardlink("stolen", outside + "/secret")});
    REQUIRE_FALSE(hard_abs);
    {
        TempRoot u;
        auto via_symlink = u.apply({make_symlink("out", outside), hardlink("stolen", "out/secret")});
        REQUIRE_FALSE(via_symlink);
        CHECK(via_symlink.error().what().find("symlink that leads out of the root") != std::string::npos);
    }
    auto whiteout_out = t.apply({make_symlink("w", outside), file("w/.wh.secret", "")});
    REQUIRE_FALSE(whiteout_out);

    struct stat st;
    CHECK(::stat((outside + "/evil").c_str(), &st) != 0);
    CHECK(fs::read_file(outside + "/secret").value() == "s");
    CHECK(::stat(outside.c_str(), &st) == 0);
    CHECK(st.st_nlink == 2); // nothing new in it
}

TEST_CASE("image unpack: a symlink inside the root may be written through")
{
    TempRoot t;
    auto r = t.apply({dir("usr"), dir("usr/bin"), make_symlink("bin", "usr/bin"), file("bin/tool", "t")});
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
    CHECK(t.read("usr/bin/tool") == "t");

    // An absolute link is the image's own path (Debian's var/run -> /run), never the host's.
    auto abs = t.apply({dir("run"), dir("var"), make_symlink("var/run", "/run"), file("var/run/pid", "1")});
    REQUIRE_MESSAGE(abs, (abs ? "" : abs.error().message()));
    CHECK(t.read("run/pid") == "1");
    CHECK(::access("/run/pid", F_OK) != 0);
}

TEST_CASE("image unpack: overlay mode writes overlayfs whiteouts and opaque markers")
{
    if (::geteuid() != 0) {
        MESSAGE("skipped: overlay whiteouts need CAP_MKNOD and trusted.* xattrs");
        return;
    }
    TempRoot t;
    auto r = t.apply({file("a/.wh.gone", ""), dir("o"), file("o/.wh..wh..opq", ""), file("o/kept")}, WhiteoutMode::Overlay);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
    struct stat st;
    REQUIRE(::lstat((t.root + "/a/gone").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char v[4] = {};
    CHECK(::getxattr((t.root + "/o").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
    CHECK(v[0] == 'y');
    CHECK(t.has("o/kept"));
}

TEST_CASE("image unpack: a stream that is not a tar is an error")
{
    TempRoot t;
    int fd = ::memfd_create("junk", MFD_CLOEXEC);
    Fd junk(fd);
    std::string text(4096, 'j');
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::lseek(fd, 0, SEEK_SET);
    CHECK_FALSE(apply_layer(t.fd.borrow(), junk.borrow(), "junk", {}));
}
