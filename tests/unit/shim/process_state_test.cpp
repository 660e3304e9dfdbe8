#include "shim/process_state.hpp"

#include <doctest.h>

using namespace husk::shim;

TEST_CASE("process state: the ordinary life of a container's init")
{
    ProcessState s;
    CHECK(s.status() == Status::created);
    CHECK(s.check(Verb::exec) == Refusal::failed_precondition); // nothing runs yet
    CHECK(s.apply(Verb::start));
    CHECK(s.status() == Status::running);
    CHECK(s.check(Verb::exec) == Refusal::ok);
    CHECK(s.check(Verb::remove) == Refusal::failed_precondition); // kill it first
    CHECK(s.apply(Verb::pause));
    CHECK(s.status() == Status::paused);
    CHECK(s.check(Verb::exec) == Refusal::failed_precondition); // a frozen container takes none
    CHECK(s.check(Verb::kill) == Refusal::ok);                  // SIGKILL reaches a frozen one
    CHECK(s.apply(Verb::resume));
    CHECK(s.status() == Status::running);
    CHECK(s.apply(Verb::exit));
    CHECK(s.status() == Status::stopped);
    CHECK(s.check(Verb::kill) == Refusal::not_found); // "process already finished"
    CHECK(s.apply(Verb::remove));
    CHECK(s.deleted());
    CHECK(s.status() == Status::unknown);
    CHECK(s.check(Verb::start) == Refusal::not_found);
}

TEST_CASE("process state: illegal transitions are refused and change nothing")
{
    ProcessState s;
    CHECK_FALSE(s.apply(Verb::pause));
    CHECK_FALSE(s.apply(Verb::resume));
    CHECK(s.status() == Status::created);
    CHECK(s.apply(Verb::start));
    CHECK_FALSE(s.apply(Verb::start)); // twice
    CHECK(s.check(Verb::start) == Refusal::failed_precondition);
    CHECK_FALSE(s.apply(Verb::resume)); // not paused
    CHECK(s.status() == Status::running);
    CHECK(s.apply(Verb::exit));
    CHECK_FALSE(s.apply(Verb::exit)); // a process exits once
    CHECK_FALSE(s.apply(Verb::pause));
    CHECK_FALSE(s.apply(Verb::start));
    CHECK(s.status() == Status::stopped);
}

TEST_CASE("process state: a created process can be killed, exit, or be deleted unstarted")
{
    ProcessState killed;
    CHECK(killed.check(Verb::kill) == Refusal::ok);
    CHECK(killed.apply(Verb::exit));
    CHECK(killed.status() == Status::stopped);
    CHECK(killed.check(Verb::start) == Refusal::failed_precondition);

    ProcessState unstarted;
    CHECK(unstarted.check(Verb::remove) == Refusal::ok);
    CHECK(unstarted.apply(Verb::remove));
    CHECK(unstarted.deleted());
}

TEST_CASE("process state: a paused process that dies is stopped")
{
    ProcessState s;
    s.apply(Verb::start);
    s.apply(Verb::pause);
    CHECK(s.apply(Verb::exit));
    CHECK(s.status() == Status::stopped);
    CHECK(s.check(Verb::resume) == Refusal::failed_precondition);
}

TEST_CASE("process state: status values are containerd's")
{
    CHECK(static_cast<int>(Status::created) == 1);
    CHECK(static_cast<int>(Status::running) == 2);
    CHECK(static_cast<int>(Status::stopped) == 3);
    CHECK(static_cast<int>(Status::paused) == 4);
    CHECK(std::string(status_name(Status::paused)) == "paused");
}
