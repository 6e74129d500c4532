#include "repository/repository_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/log.h"

namespace onnxd::server {
namespace fs = std::filesystem;

namespace {

uint64_t Fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

std::vector<std::string> ModelFolders(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && e.is_directory(ec)) out.push_back(n);
  }
  return out;
}

}  // namespace

uint64_t TreeFingerprint(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> entries;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code e2;
    const auto st = fs::status(p, e2);  // follows links: a replaced target counts as a change
    std::string line = fs::relative(p, dir, e2).string();
    line += '|';
    line += std::to_string(static_cast<int>(st.type()));
    if (fs::is_regular_file(st)) {
      line += '|' + std::to_string(fs::file_size(p, e2));
      line += '|' + std::to_string(fs::last_write_time(p, e2).time_since_epoch().count());
    }
    entries.push_back(std::move(line));
  }
  if (ec) return 0;
  std::sort(entries.begin(), entries.end());
  uint64_t h = 1469598103934665603ull;
  for (const auto& e : entries) h = Fnv1a(h, e.data(), e.size() + 1);  // + the terminator as separator
  return h;
}

RepositoryWatcher::RepositoryWatcher(std::string root, std::chrono::milliseconds poll,
                                     std::chrono::milliseconds settle, Callback on_change)
    : root_(std::move(root)), poll_(poll), settle_(settle), on_change_(std::move(on_change)) {}

RepositoryWatcher::~RepositoryWatcher() { Stop(); }

void RepositoryWatcher::Start() {
  for (const auto& m : ModelFolders(root_)) acted_[m] = TreeFingerprint(root_ + "/" + m);
  previous_ = acted_;
  if (pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    LOG_INFO("repository watch: inotify unavailable, polling every " << poll_.count() << " ms");
  } else {
    AddWatches();
  }
  thread_ = std::thread([this] { Loop(); });
}

void RepositoryWatcher::Stop() {
  if (stopping_.exchange(true)) return;
  if (stop_pipe_[1] >= 0) {
    const char b = 1;
    [[maybe_unused]] ssize_t n = write(stop_pipe_[1], &b, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&inotify_fd_, &stop_pipe_[0], &stop_pipe_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void RepositoryWatcher::AddWatches() {
  // The root, each model folder and each version folder (files change inside those). Adding an
  // existing watch is harmless; watches on removed folders go away by themselves.
  inotify_add_watch(inotify_fd_, root_.c_str(), kWatchMask);
  std::error_code ec;
  for (const auto& m : ModelFolders(root_)) {
    const std::string dir = root_ + "/" + m;
    inotify_add_watch(inotify_fd_, dir.c_str(), kWatchMask);
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory(ec)) inotify_add_watch(inotify_fd_, e.path().c_str(), kWatchMask);
  }
}

bool RepositoryWatcher::LookOnce() {
  std::map<std::string, uint64_t> look;
  for (const auto& m : ModelFolders(root_)) look[m] = TreeFingerprint(root_ + "/" + m);
  bool settling = false;
  for (const auto& [name, fp] : look) {
    auto acted = acted_.find(name);
    if (acted != acted_.end() && acted->second == fp) continue;
    auto prev = previous_.find(name);
    if (prev == previous_.end() || prev->second != fp || fp == 0) {
      settling = true;  // changed since the last look: wait until it holds still
      continue;
    }
    const Change change = acted == acted_.end() ? Change::kAdded : Change::kModified;
    acted_[name] = fp;
    on_change_(name, change);
  }
  for (auto it = acted_.begin(); it != acted_.end();) {
    if (look.count(it->first)) {
      ++it;
      continue;
    }
    if (previous_.count(it->first)) {
      settling = true;  // gone in this look only: confirm with the next
      ++it;
      continue;
    }
    const std::string name = it->first;
    it = acted_.erase(it);
    on_change_(name, Change::kRemoved);
  }
  previous_ = std::move(look);
  if (inotify_fd_ >= 0) AddWatches();
  return settling;
}

void RepositoryWatcher::Loop() {
  bool settling = false;
  std::vector<char> events(64 * 1024);
  while (!stopping_.load()) {
    pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int nfds = inotify_fd_ >= 0 ? 2 : 1;
    const auto wait = settling ? settle_ : poll_;
    const int r = ::poll(fds, static_cast<nfds_t>(nfds), static_cast<int>(wait.count()));
    if (stopping_.load() || (r > 0 && (fds[0].revents & POLLIN))) return;
    if (r > 0 && nfds == 2 && (fds[1].revents & POLLIN)) {
      // A burst of events: drain it, let the writer go on for a settle interval, then look.
      while (read(inotify_fd_, events.data(), events.size()) > 0) {
      }
      pollfd stop = {stop_pipe_[0], POLLIN, 0};
      if (::poll(&stop, 1, static_cast<int>(settle_.count())) > 0) return;
      while (read(inotify_fd_, events.data(), events.size()) > 0) {
      }
    }
    settling = LookOnce();
  }
}

}  // namespace onnxd::server
