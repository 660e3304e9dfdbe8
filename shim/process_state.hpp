// The life of one process the shim runs (a container's init or an exec'd process), as a small
// state machine: every Task call that changes a process asks it first, so an illegal call
// (start twice, exec into a stopped container, delete a running process) gets the gRPC code
// containerd expects instead of reaching the runtime.
//
//   created --start--> running --exit--> stopped --delete--> deleted
//      |                 |  ^
//      |               pause resume   (the init only: pausing freezes the whole container)
//      |                 v  |
//      |                paused --exit--> stopped
//      +--exit (killed before start)--> stopped
//      +--delete--> deleted           (a created process is deleted by force)
#pragma once

#include <cstdint>
#include <string>

namespace husk::shim {

// The values of containerd.v1.types.Status.
enum class Status : int {
    unknown = 0,
    created = 1,
    running = 2,
    stopped = 3,
    paused = 4,
    pausing = 5,
};

const char* status_name(Status s);

enum class Verb { start, exit, pause, resume, kill, exec, remove };

// Why a verb is refused; ok when it is allowed.
enum class Refusal { ok, failed_precondition, not_found };

class ProcessState {
public:
    Status status() const { return m_deleted ? Status::unknown : m_status; }
    bool deleted() const { return m_deleted; }

    // May `verb` happen now? (Changes nothing.)
    Refusal check(Verb verb) const;
    // The verb happened: moves to its state. Returns false, changing nothing, when check()
    // refuses it.
    bool apply(Verb verb);

private:
    Status m_status = Status::created;
    bool m_deleted = false;
};

} // namespace husk::shim
