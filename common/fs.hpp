// Small file-system helpers with Result errors: whole-file reads and writes, atomic
// replacement (temp + fsync-free rename: state files are runtime data on tmpfs), mkdir -p.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace husk::fs {

Result<Fd> open(const std::string& path, int flags, mode_t mode = 0);
Result<Fd> open_at(BorrowedFd dir, const std::string& path, int flags, mode_t mode = 0);
Result<std::string> read_file(const std::string& path);
Result<std::string> read_fd(BorrowedFd fd);
Result<> write_file(const std::string& path, std::string_view content, mode_t mode = 0644);
// Writes to an existing file that must be on procfs (/proc/sys/..., /proc/self/attr/...):
// opened without O_CREAT and without following a final symlink, and checked with fstatfs
// before the write, so a container root that fakes /proc (CVE-2019-16884) gets an error,
// not a write into a file of its choosing.
Result<> write_procfs_file(const std::string& path, std::string_view content);
// Writes `content` to dir/name via a temporary file and rename(2), so readers see either
// the old or the new file, never a partial one.
Result<> write_file_atomic(BorrowedFd dir, const std::string& name, std::string_view content,
                           mode_t mode = 0600);
// Writes all of `content` to an open fd.
Result<> write_all(BorrowedFd fd, std::string_view content);
Result<> mkdir_all(const std::string& path, mode_t mode = 0755);
// Removes a directory tree; follows no symlinks (they are unlinked, not traversed).
Result<> remove_all(const std::string& path);
// The same for `name` in the directory `dir` (nothing to remove is not an error).
Result<> remove_all_at(BorrowedFd dir, const std::string& name);
// The names in a directory, without "." and "..".
Result<std::vector<std::string>> list_dir(BorrowedFd dir);
bool exists(const std::string& path);
// Absolute, lexically cleaned path ("a/../b" -> "b"); relative paths are taken from `base`.
std::string absolute(const std::string& path, const std::string& base);
std::string clean(const std::string& path);
// The working directory ("/" if it cannot be read).
std::string current_dir();

} // namespace husk::fs
