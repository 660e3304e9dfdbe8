#include "common/fs.hpp"
#include "common/sys.hpp"
#include "runtime/state/store.hpp"

#include <cstdlib>
#include <doctest.h>
#include <unistd.h>

using namespace husk;

namespace {

std::string temp_root()
{
    char tmpl[] = "/tmp/husk-store-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    return tmpl;
}

} // namespace

TEST_CASE("create, save, load, list, remove")
{
    std::string root = temp_root();
    state::Store store(root + "/state");
    {
        auto dir = store.create("c1");
        REQUIRE(dir);
        CHECK(dir->load().value() == std::nullopt);
        state::ContainerState st;
        st.id = "c1";
        st.pid = getpid();
        st.pid_start_time = 1;
        st.bundle = "/b";
        st.rootfs = "/b/rootfs";
        st.created = "2026-01-01T00:00:00.000000000Z";
        st.annotations = { { "k", "v" } };
        st.cgroup_dirs = { "/sys/fs/cgroup/pids/c1" };
        REQUIRE(dir->save(st));
        auto back = dir->load();
        REQUIRE(back);
        REQUIRE(back->has_value());
        CHECK((*back)->bundle == "/b");
        CHECK((*back)->annotations.at("k") == "v");
        CHECK((*back)->cgroup_dirs.size() == 1);
        // The recorded start time does not match ours: that pid is not the container.
        CHECK_FALSE(state::init_alive(**back));
        CHECK(state::derive_status(*dir, **back) == state::Status::Stopped);
    }
    auto again = store.create("c1");
    REQUIRE_FALSE(again);
    CHECK(again.error().message() == "container with given ID already exists");
    REQUIRE(store.create("c2"));
    CHECK(store.list().value() == std::vector<std::string> { "c1", "c2" });
    {
        auto dir = store.open("c1");
        REQUIRE(dir);
        REQUIRE(store.remove(*dir));
    }
    auto gone = store.open("c1");
    REQUIRE_FALSE(gone);
    CHECK(gone.error().message() == "container does not exist");
    CHECK_FALSE(store.open("../etc"));
    REQUIRE(fs::remove_all(root));
}

TEST_CASE("a live process with the recorded start time is the container")
{
    std::string root = temp_root();
    state::Store store(root);
    auto dir = store.create("live");
    REQUIRE(dir);
    state::ContainerState st;
    st.id = "live";
    st.pid = getpid();
    st.pid_start_time = sys::proc_stat(getpid())->start_time;
    CHECK(state::init_alive(st));
    CHECK(state::derive_status(*dir, st) == state::Status::Running);
    REQUIRE(fs::remove_all(root));
}

TEST_CASE("a corrupt state file is an error, not a crash")
{
    std::string root = temp_root();
    state::Store store(root);
    auto dir = store.create("bad");
    REQUIRE(dir);
    REQUIRE(fs::write_file(dir->file("state.json"), "{not json"));
    auto r = dir->load();
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("corrupt state file") != std::string::npos);
    REQUIRE(fs::remove_all(root));
}
