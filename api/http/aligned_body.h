// A Beast request body stored in one 64-byte aligned block, placed so that the binary section of
// a KServe binary-data request (what follows Inference-Header-Content-Length bytes of JSON) starts
// on a 64-byte boundary. Binary inputs can then be Tensor views into the body with no copy.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace onnxd::api::http {

inline constexpr char kInferenceHeaderContentLength[] = "Inference-Header-Content-Length";

// Parses a non-negative decimal header value; nullopt when absent or malformed.
inline std::optional<size_t> ParseSizeHeader(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() > 19) return std::nullopt;
  size_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 64;

  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer&&) noexcept = default;
  AlignedBuffer& operator=(AlignedBuffer&&) noexcept = default;

  uint8_t* data() { return mem_ ? mem_.get() + offset_ : nullptr; }
  const uint8_t* data() const { return mem_ ? mem_.get() + offset_ : nullptr; }
  size_t size() const { return size_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), size_}; }

  // Allocates room for `capacity` bytes such that data() + align_at is 64-byte aligned.
  void Reserve(size_t capacity, size_t align_at) {
    align_at_ = align_at;
    Reallocate(capacity);
  }
  // Appends bytes, growing (doubling) when the announced length was unknown (chunked bodies).
  void Append(const void* p, size_t n) {
    if (size_ + n > capacity_) Reallocate(std::max(size_ + n, capacity_ * 2 + 4096));
    std::memcpy(data() + size_, p, n);
    size_ += n;
  }
  void Clear() {
    mem_.reset();
    size_ = capacity_ = offset_ = 0;
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  void Reallocate(size_t capacity) {
    size_t total = (capacity + kAlign + kAlign - 1) / kAlign * kAlign;
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(kAlign, total));
    if (p == nullptr) throw std::bad_alloc();
    size_t offset = (kAlign - align_at_ % kAlign) % kAlign;
    if (size_ > 0) std::memcpy(p + offset, data(), size_);
    mem_.reset(p);
    offset_ = offset;
    capacity_ = capacity;
  }

  std::unique_ptr<uint8_t, Free> mem_;
  size_t offset_ = 0;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t align_at_ = 0;
};

// Beast Body (reader side only: requests are parsed into it, never serialized from it).
struct AlignedBody {
  using value_type = AlignedBuffer;

  static std::uint64_t size(const value_type& b) { return b.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    explicit reader(boost::beast::http::header<isRequest, Fields>& h, value_type& b)
        : body_(b), fields_(&static_cast<const boost::beast::http::fields&>(h)) {}

    // Runs once the header is complete: sizes the buffer and aligns the binary section.
    void init(const boost::optional<std::uint64_t>& content_length, boost::beast::error_code& ec) {
      std::optional<size_t> header_len;
      auto it = fields_->find(kInferenceHeaderContentLength);
      if (it != fields_->end())
        header_len = ParseSizeHeader(std::string_view(it->value().data(), it->value().size()));
      size_t cap = content_length ? static_cast<size_t>(*content_length) : 4096;
      body_.Reserve(cap, header_len.value_or(0));
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        boost::asio::const_buffer b = *it;
        body_.Append(b.data(), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
    const boost::beast::http::fields* fields_;
  };
};

}  // namespace onnxd::api::http
