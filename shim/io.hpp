// A process's stdio as containerd hands it over: FIFO paths (empty: none) and, with a
// terminal, a pty whose master the runtime sends back through a console socket.
//
// Without a terminal, stdout and stderr FIFOs are given to the process as they are (no copy,
// nothing in the shim's way); stdin goes through a pipe the shim fills from the stdin FIFO,
// so that CloseIO can close it. With a terminal, the shim copies stdin FIFO -> master and
// master -> stdout FIFO.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/loop.hpp"

#include <functional>
#include <memory>
#include <string>

namespace husk::shim {

// Opens a FIFO's write end without waiting for a reader: when containerd has not opened the
// read end yet, the shim holds a read end of its own so that the open cannot block and
// nothing written is lost. Blocking mode, close-on-exec.
Result<Fd> open_fifo_writer(const std::string& path);
// The read end, non-blocking, close-on-exec.
Result<Fd> open_fifo_reader(const std::string& path);

// Copies src -> dst through the loop until src ends (EOF, EIO from a pty master whose
// terminal closed, an error), then closes dst if it owns it and calls on_done. Both
// descriptors are made non-blocking; a slow reader on dst parks the copy (EPOLLOUT) rather
// than the shim.
class Pump {
public:
    Pump(Loop& loop, Fd src, Fd dst, std::function<void()> on_done = {});
    ~Pump();
    Pump(const Pump&) = delete;
    Pump& operator=(const Pump&) = delete;

    Result<> start();
    // Copies what src holds right now (a process just exited: its last output is in the
    // pty), blocking on dst for at most a moment.
    void drain();
    // Stops copying and closes both ends.
    void stop();
    bool done() const { return m_done; }

private:
    void on_src(std::uint32_t ev);
    void on_dst(std::uint32_t ev);
    bool flush();
    void finish();

    Loop& m_loop;
    Fd m_src;
    Fd m_dst;
    std::function<void()> m_on_done;
    std::string m_buf;
    bool m_eof = false;
    bool m_done = false;
};

// A listening unix socket in a private directory for `--console-socket`, and receiving the
// pty master the runtime sends on it.
class ConsoleSocket {
public:
    static Result<ConsoleSocket> create();
    ConsoleSocket() = default;
    ConsoleSocket(ConsoleSocket&&) = default;
    ConsoleSocket& operator=(ConsoleSocket&&) = default;
    ~ConsoleSocket();

    const std::string& path() const { return m_path; }
    // The master, after the runtime call that sends it has returned (waits a bounded time).
    Result<Fd> receive_master();

private:
    std::string m_dir;
    std::string m_path;
    Fd m_sock;
};

} // namespace husk::shim
