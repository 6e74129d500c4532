// String ops (ai.onnx): StringNormalizer, StringConcat, StringSplit, RegexFullMatch, TfIdfVectorizer;
// com.microsoft Tokenizer (what skl2onnx writes for text vectorizers).
#include <algorithm>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Case mapping over UTF-8: ASCII, Latin-1 supplement, Latin Extended-A pairs, Greek and Cyrillic.

uint32_t DecodeUtf8(const std::string& s, size_t& i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) -> uint32_t {
    return i + k < s.size() ? (static_cast<unsigned char>(s[i + k]) & 0x3Fu) : 0u;
  };
  uint32_t cp;
  if (c < 0x80) {
    cp = c;
    i += 1;
  } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
    cp = ((c & 0x1Fu) << 6) | cont(1);
    i += 2;
  } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
    cp = ((c & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
    i += 3;
  } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
    cp = ((c & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    i += 4;
  } else {
    cp = 0xFFFFFFFFu;  // invalid byte: copied through as is
    i += 1;
  }
  return cp;
}

void EncodeUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t ToUpperCp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_is_lower = !((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E));
    if (odd_is_lower ? (c & 1) : !(c & 1)) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

uint32_t ToLowerCp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
    const bool odd_is_lower = !((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E));
    if (odd_is_lower ? !(c & 1) : (c & 1)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

void ChangeCase(const std::string& in, bool upper, std::string& out) {
  out.clear();
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const size_t start = i;
    const uint32_t cp = DecodeUtf8(in, i);
    if (cp == 0xFFFFFFFFu) {
      out.append(in, start, i - start);
      continue;
    }
    EncodeUtf8(upper ? ToUpperCp(cp) : ToLowerCp(cp), out);
  }
}

// ---------------------------------------------------------------------------------------------
// StringNormalizer: X [C] or [1, C] strings. Drops stopword elements, changes case.

class StringNormalizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string action = n.GetString("case_change_action", "NONE");
    if (action == "NONE") {
      action_ = 0;
    } else if (action == "LOWER") {
      action_ = 1;
    } else if (action == "UPPER") {
      action_ = 2;
    } else {
      return n.Error("case_change_action must be NONE, LOWER or UPPER, got '" + action + "'");
    }
    case_sensitive_ = n.GetInt("is_case_sensitive", 0) != 0;
    for (const std::string& w : n.GetStrings("stopwords")) {
      if (case_sensitive_) {
        stops_.insert(w);
      } else {
        std::string l;
        ChangeCase(w, false, l);
        stops_.insert(l);
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || x->dtype() != DataType::kString) return ctx.Error("input X must be a string tensor");
    const bool two_d = x->rank() == 2;
    if (!(x->rank() == 1 || (two_d && (x->dim(0) == 1 || stops_.empty())))) {
      return ctx.Error("input X must have shape [C] or [1, C], got " + x->shape().ToString());
    }
    const std::string* in = x->data<std::string>();
    const int64_t n = x->num_elements();
    // Which elements survive the stopword filter.
    int64_t kept = 0;
    uint8_t* keep = static_cast<uint8_t*>(ctx.Scratch(std::max<int64_t>(n, 1)));
    std::string tmp;
    for (int64_t i = 0; i < n; ++i) {
      bool k = true;
      if (!stops_.empty()) {
        if (case_sensitive_) {
          k = stops_.count(in[i]) == 0;
        } else {
          ChangeCase(in[i], false, tmp);
          k = stops_.count(tmp) == 0;
        }
      }
      keep[i] = k ? 1 : 0;
      kept += k ? 1 : 0;
    }
    Shape out_shape;
    const bool all_dropped = kept == 0 && n > 0;
    const int64_t cols = all_dropped ? 1 : kept;
    if (two_d && stops_.empty()) {
      out_shape = x->shape();
    } else if (two_d) {
      out_shape = Shape{1, cols};
    } else {
      out_shape = Shape{cols};
    }
    Tensor* y = ctx.Output(0, DataType::kString, out_shape);
    std::string* out = y->data<std::string>();
    if (all_dropped) {
      out[0].clear();
      return Status::Ok();
    }
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!keep[i]) continue;
      if (action_ == 0) {
        out[j] = in[i];
      } else {
        ChangeCase(in[i], action_ == 2, out[j]);
      }
      ++j;
    }
    return Status::Ok();
  }

 private:
  int action_ = 0;
  bool case_sensitive_ = false;
  std::unordered_set<std::string> stops_;
};

// ---------------------------------------------------------------------------------------------
// StringConcat: broadcasting elementwise concatenation.

class StringConcatKernel : public OpKernel {
 public:
  Status Init(const NodeInfo&) { return Status::Ok(); }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (a == nullptr || b == nullptr || a->dtype() != DataType::kString || b->dtype() != DataType::kString) {
      return ctx.Error("inputs X and Y must be string tensors");
    }
    ASSIGN_OR_RETURN(Shape out_shape, BroadcastShapes(a->shape(), b->shape()));
    Tensor* y = ctx.Output(0, DataType::kString, out_shape);
    const int64_t n = out_shape.NumElements();
    std::string* out = y->data<std::string>();
    const std::string* ad = a->data<std::string>();
    const std::string* bd = b->data<std::string>();
    auto cat = [](const std::string& l, const std::string& r, std::string& o) {
      o.clear();
      o.reserve(l.size() + r.size());
      o.append(l);
      o.append(r);
    };
    if (a->shape() == b->shape()) {
      for (int64_t i = 0; i < n; ++i) cat(ad[i], bd[i], out[i]);
      return Status::Ok();
    }
    if (b->num_elements() == 1) {
      for (int64_t i = 0; i < n; ++i) cat(ad[i], bd[0], out[i]);
      return Status::Ok();
    }
    if (a->num_elements() == 1) {
      for (int64_t i = 0; i < n; ++i) cat(ad[0], bd[i], out[i]);
      return Status::Ok();
    }
    BroadcastIndexer bi;
    const Shape* ins[2] = {&a->shape(), &b->shape()};
    bi.Init(out_shape, ins, 2);
    int64_t idx[Shape::kInline * 2] = {};
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < n; ++i) {
      cat(ad[oa], bd[ob], out[i]);
      // Advance the multi-index.
      for (int d = bi.rank - 1; d >= 0; --d) {
        ++idx[d];
        oa += bi.in_strides[0][d];
        ob += bi.in_strides[1][d];
        if (idx[d] < bi.out_dims[d]) break;
        oa -= bi.in_strides[0][d] * idx[d];
        ob -= bi.in_strides[1][d] * idx[d];
        idx[d] = 0;
      }
    }
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------------------------
// StringSplit: Y = X.shape + [max pieces] (padded with ""), Z = pieces per element.

inline bool IsPySpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == '\x1c' ||
         c == '\x1d' || c == '\x1e' || c == '\x1f';
}

class StringSplitKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    delimiter_ = n.GetString("delimiter", "");
    maxsplit_ = n.GetInt("maxsplit", -1);
    return Status::Ok();
  }

  // Calls emit(begin, len) per piece; returns the count.
  template <typename F>
  int64_t Split(const std::string& s, F&& emit) const {
    int64_t pieces = 0;
    int64_t splits_left = maxsplit_ < 0 ? INT64_MAX : maxsplit_;
    if (delimiter_.empty()) {
      size_t i = 0;
      const size_t n = s.size();
      while (true) {
        while (i < n && IsPySpace(s[i])) ++i;
        if (i >= n) break;
        if (splits_left == 0) {
          // The remainder, without trailing whitespace (as onnxruntime does).
          size_t e = n;
          while (e > i && IsPySpace(s[e - 1])) --e;
          emit(i, e - i);
          ++pieces;
          break;
        }
        size_t j = i;
        while (j < n && !IsPySpace(s[j])) ++j;
        emit(i, j - i);
        ++pieces;
        i = j;
        --splits_left;
      }
    } else if (!s.empty()) {  // an empty string has no pieces (as onnxruntime does)
      size_t i = 0;
      while (true) {
        size_t j = splits_left > 0 ? s.find(delimiter_, i) : std::string::npos;
        if (j == std::string::npos) {
          emit(i, s.size() - i);
          ++pieces;
          break;
        }
        emit(i, j - i);
        ++pieces;
        i = j + delimiter_.size();
        --splits_left;
      }
    }
    return pieces;
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || x->dtype() != DataType::kString) return ctx.Error("input X must be a string tensor");
    const int64_t n = x->num_elements();
    const std::string* in = x->data<std::string>();
    Tensor* z = ctx.Output(1, DataType::kInt64, x->shape());
    int64_t* zd = z->data<int64_t>();
    int64_t maxp = 0;
    for (int64_t i = 0; i < n; ++i) {
      zd[i] = Split(in[i], [](size_t, size_t) {});
      maxp = std::max(maxp, zd[i]);
    }
    Shape ys = x->shape();
    ys.PushBack(maxp);
    Tensor* y = ctx.Output(0, DataType::kString, ys);
    std::string* out = y->data<std::string>();
    for (int64_t i = 0; i < n; ++i) {
      std::string* row = out + i * maxp;
      int64_t k = 0;
      Split(in[i], [&](size_t b, size_t len) { row[k++].assign(in[i], b, len); });
      for (; k < maxp; ++k) row[k].clear();
    }
    return Status::Ok();
  }

 private:
  std::string delimiter_;
  int64_t maxsplit_ = -1;
};

// ---------------------------------------------------------------------------------------------
// RegexFullMatch: bool per element, whole-string match. Patterns compile as ECMAScript, which
// covers the RE2 subset in common use (classes, \w \d \s \b, groups, alternation, counted repeats).

class RegexFullMatchKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    if (!n.has_attr("pattern")) return n.Error("attribute pattern is required");
    pattern_ = n.GetString("pattern", "");
    try {
      re_ = std::regex(pattern_, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return n.Error("invalid regex pattern '" + pattern_ + "': " + e.what());
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || x->dtype() != DataType::kString) return ctx.Error("input X must be a string tensor");
    Tensor* y = ctx.Output(0, DataType::kBool, x->shape());
    const std::string* in = x->data<std::string>();
    bool* out = y->data<bool>();
    const int64_t n = x->num_elements();
    try {
      for (int64_t i = 0; i < n; ++i) out[i] = std::regex_match(in[i], re_);
    } catch (const std::regex_error& e) {
      return ctx.Error(std::string("regex match failed: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  std::string pattern_;
  std::regex re_;
};

// ---------------------------------------------------------------------------------------------
// TfIdfVectorizer: n-gram counting against a pool, organised as a trie built at compile time.

class TfIdfVectorizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string mode = n.GetString("mode", "");
    if (mode == "TF") {
      mode_ = 1;
    } else if (mode == "IDF") {
      mode_ = 2;
    } else if (mode == "TFIDF") {
      mode_ = 3;
    } else {
      return n.Error("attribute mode must be TF, IDF or TFIDF, got '" + mode + "'");
    }
    ASSIGN_OR_RETURN(min_gram_, n.RequireInt("min_gram_length"));
    ASSIGN_OR_RETURN(max_gram_, n.RequireInt("max_gram_length"));
    ASSIGN_OR_RETURN(max_skip_, n.RequireInt("max_skip_count"));
    if (min_gram_ < 1 || max_gram_ < min_gram_ || max_skip_ < 0) {
      return n.Error("need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
    }
    const std::vector<int64_t> counts = n.GetInts("ngram_counts");
    indexes_ = n.GetInts("ngram_indexes");
    weights_ = n.GetFloats("weights");
    pool_ints_ = n.GetInts("pool_int64s");
    pool_strs_ = n.GetStrings("pool_strings");
    if (!pool_ints_.empty() && !pool_strs_.empty()) return n.Error("give only one of pool_int64s and pool_strings");
    string_pool_ = !pool_strs_.empty();
    const int64_t total = string_pool_ ? static_cast<int64_t>(pool_strs_.size()) : static_cast<int64_t>(pool_ints_.size());
    if (indexes_.empty()) return n.Error("attribute ngram_indexes is required");
    output_size_ = *std::max_element(indexes_.begin(), indexes_.end()) + 1;
    for (int64_t v : indexes_) {
      if (v < 0) return n.Error("ngram_indexes must be non-negative");
    }
    if (!weights_.empty() && static_cast<int64_t>(weights_.size()) < output_size_) {
      // Weights are indexed by output column.
      return n.Error("weights must have at least max(ngram_indexes)+1 values");
    }
    nodes_.emplace_back();  // root
    int64_t ngram_id = 0;  // ordinal of the n-gram in the pool
    for (size_t i = 0; i < counts.size(); ++i) {
      const int64_t size = static_cast<int64_t>(i) + 1;
      const int64_t start = counts[i];
      const int64_t end = i + 1 < counts.size() ? counts[i + 1] : total;
      if (start < 0 || end > total || end < start) return n.Error("ngram_counts out of range of the pool");
      const int64_t ngrams = (end - start) / size;
      for (int64_t g = 0; g < ngrams; ++g, ++ngram_id) {
        if (size < min_gram_ || size > max_gram_) continue;
        if (ngram_id >= static_cast<int64_t>(indexes_.size())) {
          return n.Error("ngram_indexes has fewer entries than the pool has n-grams");
        }
        int node = 0;
        for (int64_t k = 0; k < size; ++k) {
          const int64_t item = start + g * size + k;
          node = string_pool_ ? Child(node, pool_strs_[item]) : Child(node, pool_ints_[item]);
        }
        nodes_[node].out = indexes_[ngram_id];
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return ctx.Error("input X is required");
    const DataType dt = x->dtype();
    if (string_pool_ ? dt != DataType::kString : (dt != DataType::kInt64 && dt != DataType::kInt32)) {
      return ctx.Error(std::string("input X type ") + DataTypeName(dt) + " does not match the pool type");
    }
    int64_t rows = 1, cols = 1;
    Shape out_shape;
    if (x->rank() == 0) {
      out_shape = Shape{output_size_};
    } else if (x->rank() == 1) {
      cols = x->dim(0);
      out_shape = Shape{output_size_};
    } else if (x->rank() == 2) {
      rows = x->dim(0);
      cols = x->dim(1);
      out_shape = Shape{rows, output_size_};
    } else {
      return ctx.Error("input X must have shape [C] or [N, C], got " + x->shape().ToString());
    }
    Tensor* y = ctx.Output(0, DataType::kFloat, out_shape);
    float* yd = y->data<float>();
    std::fill(yd, yd + rows * output_size_, 0.f);
    if (cols == 0 || nodes_.size() <= 1) return Status::Ok();
    for (int64_t r = 0; r < rows; ++r) {
      float* freq = yd + r * output_size_;
      auto lookup = [&](int node, int64_t item) -> int {
        if (dt == DataType::kString) return Find(node, x->data<std::string>()[r * cols + item]);
        const int64_t v = dt == DataType::kInt64 ? x->data<int64_t>()[r * cols + item]
                                                 : static_cast<int64_t>(x->data<int32_t>()[r * cols + item]);
        return Find(node, v);
      };
      int64_t start_size = min_gram_;
      for (int64_t skip = 1; skip <= max_skip_ + 1; ++skip) {
        for (int64_t s = 0; s < cols; ++s) {
          if (s + skip * (start_size - 1) >= cols) break;
          int node = 0;
          int64_t item = s;
          for (int64_t size = 1; size <= max_gram_ && item < cols; ++size, item += skip) {
            node = lookup(node, item);
            if (node < 0) break;
            if (size >= start_size && nodes_[node].out >= 0) freq[nodes_[node].out] += 1.f;
          }
        }
        // Unigrams are counted once, not once per skip distance.
        if (start_size == 1) {
          ++start_size;
          if (start_size > max_gram_) break;
        }
      }
    }
    const int64_t total = rows * output_size_;
    if (mode_ == 2) {
      for (int64_t i = 0; i < total; ++i) {
        yd[i] = yd[i] > 0 ? (weights_.empty() ? 1.f : weights_[i % output_size_]) : 0.f;
      }
    } else if (mode_ == 3 && !weights_.empty()) {
      for (int64_t i = 0; i < total; ++i) yd[i] *= weights_[i % output_size_];
    }
    return Status::Ok();
  }

 private:
  struct Node {
    int64_t out = -1;
    std::map<int64_t, int> int_children;
    std::unordered_map<std::string, int> str_children;
  };

  int Child(int node, int64_t key) {
    auto it = nodes_[node].int_children.find(key);
    if (it != nodes_[node].int_children.end()) return it->second;
    const int id = static_cast<int>(nodes_.size());
    nodes_[node].int_children.emplace(key, id);
    nodes_.emplace_back();
    return id;
  }
  int Child(int node, const std::string& key) {
    auto it = nodes_[node].str_children.find(key);
    if (it != nodes_[node].str_children.end()) return it->second;
    const int id = static_cast<int>(nodes_.size());
    nodes_[node].str_children.emplace(key, id);
    nodes_.emplace_back();
    return id;
  }
  int Find(int node, int64_t key) const {
    auto it = nodes_[node].int_children.find(key);
    return it == nodes_[node].int_children.end() ? -1 : it->second;
  }
  int Find(int node, const std::string& key) const {
    auto it = nodes_[node].str_children.find(key);
    return it == nodes_[node].str_children.end() ? -1 : it->second;
  }

  int mode_ = 1;
  int64_t min_gram_ = 1, max_gram_ = 1, max_skip_ = 0, output_size_ = 0;
  bool string_pool_ = false;
  std::vector<int64_t> indexes_;
  std::vector<float> weights_;
  std::vector<int64_t> pool_ints_;
  std::vector<std::string> pool_strs_;
  std::vector<Node> nodes_;
};

// ---------------------------------------------------------------------------------------------
// Tokenizer (com.microsoft, onnxruntime's contrib op; skl2onnx emits it for CountVectorizer and
// TfidfVectorizer). X [C] or [N, C] strings -> Y [C, D] or [N, C, D]: each string's tokens padded
// with pad_value to the most tokens D of any string. Modes, as onnxruntime behaves:
//   separators = [""]      one token per UTF-8 character;
//   separators = [re, ...]  tokens are the text between matches of any separator;
//   tokenexp = re           tokens are the leftmost-longest matches of re, scanning left to right
// (separators win when both are given). Tokens shorter than mincharnum characters are dropped.
// mark wraps each row in "\x02" ... "\x03" (D + 2 columns) unless no string has any token.
// Patterns compile as ECMAScript, which covers the RE2 subset converters write.

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0u) != 0x80u ? 1 : 0;
  return n;
}

class TokenizerKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    ASSIGN_OR_RETURN(int64_t mark, n.RequireInt("mark"));
    mark_ = mark != 0;
    ASSIGN_OR_RETURN(mincharnum_, n.RequireInt("mincharnum"));
    if (mincharnum_ < 1) return n.Error("mincharnum must be positive");
    if (!n.has_attr("pad_value")) return n.Error("attribute pad_value is required");
    pad_ = n.GetString("pad_value", "");
    const std::vector<std::string> seps = n.GetStrings("separators");
    const std::string tokenexp = n.GetString("tokenexp", "");
    auto compile = [&](const std::string& p, std::regex* re) -> Status {
      try {
        *re = std::regex(p, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return n.Unsupported("cannot compile regex '" + p + "': " + e.what());
      }
      return Status::Ok();
    };
    if (!seps.empty()) {
      if (seps.size() == 1 && seps[0].empty()) {
        mode_ = Mode::kChars;
        if (mincharnum_ != 1) return n.Error("mincharnum must be 1 when tokenizing characters");
      } else {
        mode_ = Mode::kSeparators;
        separators_.resize(seps.size());
        for (size_t i = 0; i < seps.size(); ++i) {
          if (seps[i].empty()) return n.Error("an empty separator is only allowed alone");
          RETURN_IF_ERROR(compile(seps[i], &separators_[i]));
        }
      }
    } else if (!tokenexp.empty()) {
      mode_ = Mode::kTokenExp;
      RETURN_IF_ERROR(compile(tokenexp, &tokenexp_));
      // Backtracking returns the first match the pattern's order finds, not the longest; without
      // alternation, optional parts, counted repeats or groups the two agree.
      may_stop_short_ = tokenexp.find_first_of("|?({") != std::string::npos;
    } else {
      return n.Error("one of the attributes separators or tokenexp is required");
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || x->dtype() != DataType::kString) return ctx.Error("input X must be a string tensor");
    if (x->rank() != 1 && x->rank() != 2) {
      return ctx.Error("input X must have shape [C] or [N, C], got " + x->shape().ToString());
    }
    const int64_t n = x->num_elements();
    if (n == 0) {
      ctx.Output(0, DataType::kString, x->shape());
      return Status::Ok();
    }
    const std::string* in = x->data<std::string>();
    std::vector<std::vector<std::string_view>> tokens(static_cast<size_t>(n));
    size_t most = 0;
    try {
      for (int64_t i = 0; i < n; ++i) {
        Tokenize(in[i], &tokens[static_cast<size_t>(i)]);
        most = std::max(most, tokens[static_cast<size_t>(i)].size());
      }
    } catch (const std::regex_error& e) {
      return ctx.Error(std::string("regex search failed: ") + e.what());
    }
    const bool marks = mark_ && most > 0;
    const int64_t d = static_cast<int64_t>(most) + (marks ? 2 : 0);
    Shape ys = x->shape();
    ys.PushBack(d);
    Tensor* y = ctx.Output(0, DataType::kString, ys);
    std::string* out = y->data<std::string>();
    for (int64_t i = 0; i < n; ++i) {
      std::string* row = out + i * d;
      int64_t k = 0;
      if (marks) row[k++] = "\x02";
      for (std::string_view t : tokens[static_cast<size_t>(i)]) row[k++].assign(t);
      if (marks) row[k++] = "\x03";
      for (; k < d; ++k) row[k] = pad_;
    }
    return Status::Ok();
  }

 private:
  enum class Mode { kChars, kSeparators, kTokenExp };

  void Keep(std::string_view t, std::vector<std::string_view>* out) const {
    if (!t.empty() && static_cast<int64_t>(Utf8Length(t)) >= mincharnum_) out->push_back(t);
  }

  void Tokenize(const std::string& s, std::vector<std::string_view>* out) const {
    const std::string_view sv(s);
    if (mode_ == Mode::kChars) {
      for (size_t i = 0; i < s.size();) {
        size_t j = i + 1;
        while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0u) == 0x80u) ++j;
        out->push_back(sv.substr(i, j - i));
        i = j;
      }
      return;
    }
    using It = std::string::const_iterator;
    std::smatch m;
    size_t pos = 0;
    if (mode_ == Mode::kSeparators) {
      while (pos <= s.size()) {
        // The earliest non-empty separator match; the longest one where several start there.
        size_t best_at = std::string::npos, best_len = 0;
        for (const std::regex& re : separators_) {
          for (It from = s.begin() + static_cast<std::ptrdiff_t>(pos);
               std::regex_search(from, s.end(), m, re); ) {
            const size_t at = static_cast<size_t>(m[0].first - s.begin());
            if (m.length(0) == 0) {  // an empty match separates nothing; look further on
              if (at >= s.size()) break;
              from = s.begin() + static_cast<std::ptrdiff_t>(at + 1);
              continue;
            }
            const size_t len = static_cast<size_t>(m.length(0));
            if (at < best_at || (at == best_at && len > best_len)) {
              best_at = at;
              best_len = len;
            }
            break;
          }
        }
        if (best_at == std::string::npos) {
          Keep(sv.substr(pos), out);
          return;
        }
        Keep(sv.substr(pos, best_at - pos), out);
        pos = best_at + best_len;
      }
      return;
    }
    while (pos < s.size() &&
           std::regex_search(s.begin() + static_cast<std::ptrdiff_t>(pos), s.end(), m, tokenexp_)) {
      const size_t at = static_cast<size_t>(m[0].first - s.begin());
      size_t len = static_cast<size_t>(m.length(0));
      if (may_stop_short_) {
        // Leftmost-longest: the longest whole match starting at `at`.
        for (size_t end = s.size(); end > at + len; --end) {
          if (std::regex_match(s.begin() + static_cast<std::ptrdiff_t>(at),
                               s.begin() + static_cast<std::ptrdiff_t>(end), tokenexp_)) {
            len = end - at;
            break;
          }
        }
      }
      if (len == 0) {  // empty matches make no token
        pos = at + 1;
        continue;
      }
      Keep(sv.substr(at, len), out);
      pos = at + len;
    }
  }

  bool mark_ = false;
  int64_t mincharnum_ = 1;
  std::string pad_;
  Mode mode_ = Mode::kTokenExp;
  std::vector<std::regex> separators_;
  std::regex tokenexp_;
  bool may_stop_short_ = false;
};

}  // namespace

void RegisterStringOps(OpRegistry& r) {
  r.Add("", "StringNormalizer", Factory<StringNormalizerKernel>(), 10);
  r.Add("", "StringConcat", Factory<StringConcatKernel>(), 20);
  r.Add("", "StringSplit", Factory<StringSplitKernel>(), 20);
  r.Add("", "RegexFullMatch", Factory<RegexFullMatchKernel>(), 20);
  r.Add("", "TfIdfVectorizer", Factory<TfIdfVectorizerKernel>(), 9);
  r.Add("com.microsoft", "Tokenizer", Factory<TokenizerKernel>(), 1);
}

}  // namespace onnxd::engine
