#include "common/fs.hpp"

#include <cstdlib>
#include <doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace husk;

TEST_CASE("clean normalises paths lexically")
{
    CHECK(fs::clean("/a/b/../c") == "/a/c");
    CHECK(fs::clean("/../../etc") == "/etc");
    CHECK(fs::clean("a/./b//c/") == "a/b/c");
    CHECK(fs::clean("../x") == "../x");
    CHECK(fs::clean("") == ".");
    CHECK(fs::clean("/") == "/");
}

TEST_CASE("absolute resolves relative paths from a base")
{
    CHECK(fs::absolute("rootfs", "/bundle") == "/bundle/rootfs");
    CHECK(fs::absolute("/abs", "/bundle") == "/abs");
    CHECK(fs::absolute("../x", "/bundle/sub") == "/bundle/x");
}

TEST_CASE("atomic write, read back, remove_all")
{
    char tmpl[] = "/tmp/husk-fs-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    std::string dir = tmpl;
    auto dfd = fs::open(dir, O_DIRECTORY | O_RDONLY);
    REQUIRE(dfd);
    REQUIRE(fs::write_file_atomic(dfd->borrow(), "state.json", "{\"a\":1}"));
    CHECK(fs::read_file(dir + "/state.json").value() == "{\"a\":1}");
    REQUIRE(fs::write_file_atomic(dfd->borrow(), "state.json", "{}"));
    CHECK(fs::read_file(dir + "/state.json").value() == "{}");
    CHECK_FALSE(fs::exists(dir + "/.state.json.tmp"));

    REQUIRE(fs::mkdir_all(dir + "/x/y/z"));
    REQUIRE(fs::write_file(dir + "/x/y/z/f", "data"));
    REQUIRE(symlink("/etc", (dir + "/x/link").c_str()) == 0);
    REQUIRE(fs::remove_all(dir));
    CHECK_FALSE(fs::exists(dir));
    CHECK(fs::exists("/etc/passwd")); // the symlink was not followed
}

TEST_CASE("read_file of a missing file names it")
{
    auto r = fs::read_file("/nonexistent/husk/file");
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ENOENT);
    CHECK(r.error().message().find("/nonexistent/husk/file") != std::string::npos);
}

TEST_CASE("list_dir and remove_all_at: names below a directory fd, no symlink followed")
{
    char tmpl[] = "/tmp/husk-fs-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    std::string top = tmpl;
    REQUIRE(fs::mkdir_all(top + "/dir/tree/deep"));
    REQUIRE(fs::mkdir_all(top + "/outside"));
    REQUIRE(fs::write_file(top + "/outside/keep", "k"));
    REQUIRE(fs::write_file(top + "/dir/tree/deep/f", "f"));
    REQUIRE(::symlink((top + "/outside").c_str(), (top + "/dir/tree/link").c_str()) == 0);
    auto dir = fs::open(top + "/dir", O_PATH | O_DIRECTORY);
    REQUIRE(dir);
    auto names = fs::list_dir(dir->borrow());
    REQUIRE(names);
    CHECK(*names == std::vector<std::string> {"tree"});
    REQUIRE(fs::remove_all_at(dir->borrow(), "tree"));
    CHECK(fs::list_dir(dir->borrow())->empty());
    CHECK(fs::read_file(top + "/outside/keep").value() == "k"); // the link went, not its target
    CHECK(fs::remove_all_at(dir->borrow(), "never-there"));
    REQUIRE(fs::remove_all(top));
}
