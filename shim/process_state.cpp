#include "shim/process_state.hpp"

namespace husk::shim {

const char* status_name(Status s)
{
    switch (s) {
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::stopped: return "stopped";
    case Status::paused: return "paused";
    case Status::pausing: return "pausing";
    case Status::unknown: break;
    }
    return "unknown";
}

Refusal ProcessState::check(Verb verb) const
{
    if (m_deleted)
        return Refusal::not_found;
    const Status s = m_status;
    switch (verb) {
    case Verb::start:
        return s == Status::created ? Refusal::ok : Refusal::failed_precondition;
    case Verb::exit:
        // A process exits once; a created one exits when it is killed before start.
        return s == Status::stopped ? Refusal::failed_precondition : Refusal::ok;
    case Verb::pause:
        return s == Status::running ? Refusal::ok : Refusal::failed_precondition;
    case Verb::resume:
        return s == Status::paused ? Refusal::ok : Refusal::failed_precondition;
    case Verb::kill:
        // Signals reach a created (not yet started) process too, and a paused one (SIGKILL
        // works on a frozen cgroup). A stopped process has nothing left to signal.
        return s == Status::stopped ? Refusal::not_found : Refusal::ok;
    case Verb::exec:
        // New processes join a container whose init runs; a frozen container takes none.
        return s == Status::running ? Refusal::ok : Refusal::failed_precondition;
    case Verb::remove:
        return s == Status::running || s == Status::paused ? Refusal::failed_precondition : Refusal::ok;
    }
    return Refusal::failed_precondition;
}

bool ProcessState::apply(Verb verb)
{
    if (check(verb) != Refusal::ok)
        return false;
    switch (verb) {
    case Verb::start: m_status = Status::running; break;
    case Verb::exit: m_status = Status::stopped; break;
    case Verb::pause: m_status = Status::paused; break;
    case Verb::resume: m_status = Status::running; break;
    case Verb::remove: m_deleted = true; break;
    case Verb::kill:
    case Verb::exec: break;
    }
    return true;
}

} // namespace husk::shim
