// Detection ops (ai.onnx): NonMaxSuppression, RoiAlign, MaxUnpool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression
// boxes [B, N, 4], scores [B, C, N], optional max_output_boxes_per_class (int64 scalar, default 0),
// iou_threshold (float scalar, default 0), score_threshold (float scalar, filters only when given).
// Output int64 [k, 3] rows (batch, class, box).

struct Box {
  float x0, y0, x1, y1, area;
};

class NonMaxSuppressionKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    center_point_box_ = n.GetInt("center_point_box", 0);
    if (center_point_box_ != 0 && center_point_box_ != 1) {
      return n.Error("attribute center_point_box must be 0 or 1");
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* boxes = ctx.input(0);
    const Tensor* scores = ctx.input(1);
    if (boxes == nullptr || scores == nullptr) return ctx.Error("inputs boxes and scores are required");
    if (boxes->dtype() != DataType::kFloat || scores->dtype() != DataType::kFloat) {
      return ctx.Error("boxes and scores must be float tensors");
    }
    if (boxes->rank() != 3 || boxes->dim(2) != 4) {
      return ctx.Error("input boxes must have shape [batch, boxes, 4], got " + boxes->shape().ToString());
    }
    if (scores->rank() != 3) {
      return ctx.Error("input scores must have shape [batch, classes, boxes], got " +
                       scores->shape().ToString());
    }
    const int64_t B = boxes->dim(0), N = boxes->dim(1), C = scores->dim(1);
    if (scores->dim(0) != B || scores->dim(2) != N) {
      return ctx.Error("scores shape " + scores->shape().ToString() + " does not match boxes shape " +
                       boxes->shape().ToString());
    }
    int64_t max_out = 0;
    float iou_threshold = 0.f, score_threshold = 0.f;
    bool has_score_threshold = false;
    const Tensor* t = ctx.input(2);
    if (t != nullptr && t->num_elements() > 0) max_out = std::max<int64_t>(ScalarAsInt64(*t), 0);
    t = ctx.input(3);
    if (t != nullptr && t->num_elements() > 0) iou_threshold = static_cast<float>(ScalarAsDouble(*t));
    t = ctx.input(4);
    if (t != nullptr && t->num_elements() > 0) {
      score_threshold = static_cast<float>(ScalarAsDouble(*t));
      has_score_threshold = true;
    }
    if (iou_threshold < 0.f || iou_threshold > 1.f) {
      return ctx.Error("iou_threshold must be in [0, 1], got " + std::to_string(iou_threshold));
    }
    const int64_t per_class = std::min(max_out, N);
    const int64_t max_total = B * C * per_class;
    // Scratch: normalized boxes for one batch, candidate order, selected rows.
    Box* nb = static_cast<Box*>(ctx.Scratch(sizeof(Box) * std::max<int64_t>(N, 1)));
    int64_t* order = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * std::max<int64_t>(N, 1)));
    int64_t* sel_class = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * std::max<int64_t>(per_class, 1)));
    int64_t* result = static_cast<int64_t*>(ctx.Scratch(sizeof(int64_t) * 3 * std::max<int64_t>(max_total, 1)));
    int64_t count = 0;
    const float* bd = boxes->data<float>();
    const float* sd = scores->data<float>();
    if (per_class > 0) {
      for (int64_t b = 0; b < B; ++b) {
        const float* bb = bd + b * N * 4;
        for (int64_t i = 0; i < N; ++i) {
          const float* p = bb + i * 4;
          Box& o = nb[i];
          if (center_point_box_ == 0) {
            o.y0 = std::min(p[0], p[2]);
            o.y1 = std::max(p[0], p[2]);
            o.x0 = std::min(p[1], p[3]);
            o.x1 = std::max(p[1], p[3]);
          } else {
            const float hw = p[2] / 2, hh = p[3] / 2;
            o.x0 = p[0] - hw;
            o.x1 = p[0] + hw;
            o.y0 = p[1] - hh;
            o.y1 = p[1] + hh;
          }
          o.area = (o.x1 - o.x0) * (o.y1 - o.y0);
        }
        for (int64_t c = 0; c < C; ++c) {
          const float* cs = sd + (b * C + c) * N;
          int64_t nc = 0;
          for (int64_t i = 0; i < N; ++i) {
            if (!has_score_threshold || cs[i] > score_threshold) order[nc++] = i;
          }
          // A max-heap on (score, -index): only as many candidates are popped as examined.
          auto less = [cs](int64_t a, int64_t z) { return cs[a] < cs[z] || (cs[a] == cs[z] && a > z); };
          std::make_heap(order, order + nc, less);
          int64_t ns = 0;
          for (int64_t heap_end = nc; heap_end > 0 && ns < per_class; --heap_end) {
            std::pop_heap(order, order + heap_end, less);
            const int64_t cand_idx = order[heap_end - 1];
            const Box& cand = nb[cand_idx];
            bool keep = true;
            for (int64_t s = 0; s < ns; ++s) {
              const Box& o = nb[sel_class[s]];
              const float ix0 = std::max(cand.x0, o.x0), ix1 = std::min(cand.x1, o.x1);
              if (ix1 <= ix0) continue;
              const float iy0 = std::max(cand.y0, o.y0), iy1 = std::min(cand.y1, o.y1);
              if (iy1 <= iy0) continue;
              const float inter = (ix1 - ix0) * (iy1 - iy0);
              const float uni = cand.area + o.area - inter;
              if (cand.area <= 0 || o.area <= 0 || uni <= 0) continue;
              if (inter / uni > iou_threshold) {
                keep = false;
                break;
              }
            }
            if (keep) {
              sel_class[ns++] = cand_idx;
              result[count * 3] = b;
              result[count * 3 + 1] = c;
              result[count * 3 + 2] = cand_idx;
              ++count;
            }
          }
        }
      }
    }
    Tensor* out = ctx.Output(0, DataType::kInt64, Shape{count, 3});
    if (count > 0) std::memcpy(out->data<int64_t>(), result, sizeof(int64_t) * 3 * count);
    return Status::Ok();
  }

 private:
  int64_t center_point_box_ = 0;
};

// ---------------------------------------------------------------------------------------------
// RoiAlign: X [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch_indices [R] -> Y [R, C, oh, ow].

class RoiAlignKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    const std::string mode = n.GetString("mode", "avg");
    if (mode == "avg") {
      max_mode_ = false;
    } else if (mode == "max") {
      max_mode_ = true;
    } else {
      return n.Error("attribute mode must be 'avg' or 'max', got '" + mode + "'");
    }
    out_h_ = n.GetInt("output_height", 1);
    out_w_ = n.GetInt("output_width", 1);
    if (out_h_ <= 0 || out_w_ <= 0) return n.Error("output_height and output_width must be positive");
    sampling_ratio_ = n.GetInt("sampling_ratio", 0);
    if (sampling_ratio_ < 0) return n.Error("sampling_ratio must be >= 0");
    spatial_scale_ = n.GetFloat("spatial_scale", 1.0f);
    const std::string ctm =
        n.GetString("coordinate_transformation_mode", n.opset() >= 16 ? "half_pixel" : "output_half_pixel");
    if (ctm == "half_pixel") {
      half_pixel_ = true;
    } else if (ctm == "output_half_pixel") {
      half_pixel_ = false;
    } else {
      return n.Error("unsupported coordinate_transformation_mode '" + ctm + "'");
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* rois = ctx.input(1);
    const Tensor* bi = ctx.input(2);
    if (x == nullptr || rois == nullptr || bi == nullptr) return ctx.Error("inputs X, rois, batch_indices are required");
    if (x->rank() != 4) return ctx.Error("input X must be 4-D [N,C,H,W], got " + x->shape().ToString());
    if (rois->rank() != 2 || rois->dim(1) != 4) {
      return ctx.Error("input rois must have shape [num_rois, 4], got " + rois->shape().ToString());
    }
    if (bi->rank() != 1 || bi->dim(0) != rois->dim(0)) {
      return ctx.Error("input batch_indices must have shape [num_rois], got " + bi->shape().ToString());
    }
    if (rois->dtype() != x->dtype()) return ctx.Error("rois must have the same type as X");
    if (bi->dtype() != DataType::kInt64 && bi->dtype() != DataType::kInt32) {
      return ctx.Error("batch_indices must be int64");
    }
    Status st = Status::Ok();
    const bool ok = DispatchFloat(x->dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      st = Run<T>(ctx, *x, *rois, *bi);
    });
    if (!ok) return ctx.Error(std::string("unsupported X type ") + DataTypeName(x->dtype()));
    return st;
  }

 private:
  template <typename A>
  struct PreCalcT {
    int64_t p1, p2, p3, p4;
    A w1, w2, w3, w4;
  };

  template <typename T>
  Status Run(KernelContext& ctx, const Tensor& x, const Tensor& rois, const Tensor& bi) const {
    using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
    using PreCalc = PreCalcT<Acc>;
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t R = rois.dim(0);
    Tensor* y = ctx.Output(0, x.dtype(), Shape{R, C, out_h_, out_w_});
    T* yd = y->data<T>();
    const T* xd = x.data<T>();
    const T* rd = rois.data<T>();
    auto batch_of = [&](int64_t r) -> int64_t {
      return bi.dtype() == DataType::kInt64 ? bi.data<int64_t>()[r] : bi.data<int32_t>()[r];
    };
    for (int64_t r = 0; r < R; ++r) {
      const int64_t b = batch_of(r);
      if (b < 0 || b >= N) {
        return ctx.Error("batch_indices[" + std::to_string(r) + "] = " + std::to_string(b) + " out of range [0, " +
                         std::to_string(N) + ")");
      }
    }
    if (R == 0 || C == 0) return Status::Ok();
    const int64_t plane = out_h_ * out_w_;
    // Largest sample grid any roi can need, for the scratch size.
    int64_t max_grid = 0;
    struct RoiGeom {
      Acc sh, sw, bh, bw;
      int64_t gh, gw;
    };
    RoiGeom* geo = static_cast<RoiGeom*>(ctx.Scratch(sizeof(RoiGeom) * R));
    const Acc offset = half_pixel_ ? Acc(0.5) : Acc(0);
    for (int64_t r = 0; r < R; ++r) {
      const T* p = rd + r * 4;
      const Acc sw = static_cast<Acc>(static_cast<Acc>(p[0]) * spatial_scale_) - offset;
      const Acc sh = static_cast<Acc>(static_cast<Acc>(p[1]) * spatial_scale_) - offset;
      const Acc ew = static_cast<Acc>(static_cast<Acc>(p[2]) * spatial_scale_) - offset;
      const Acc eh = static_cast<Acc>(static_cast<Acc>(p[3]) * spatial_scale_) - offset;
      Acc rw = ew - sw, rh = eh - sh;
      if (!half_pixel_) {
        rw = std::max(rw, Acc(1));
        rh = std::max(rh, Acc(1));
      }
      RoiGeom& g = geo[r];
      g.sh = sh;
      g.sw = sw;
      g.bh = rh / static_cast<Acc>(out_h_);
      g.bw = rw / static_cast<Acc>(out_w_);
      g.gh = sampling_ratio_ > 0 ? sampling_ratio_ : static_cast<int64_t>(std::ceil(rh / static_cast<Acc>(out_h_)));
      g.gw = sampling_ratio_ > 0 ? sampling_ratio_ : static_cast<int64_t>(std::ceil(rw / static_cast<Acc>(out_w_)));
      g.gh = std::max<int64_t>(g.gh, 0);
      g.gw = std::max<int64_t>(g.gw, 0);
      max_grid = std::max(max_grid, g.gh * g.gw);
    }
    const int64_t pc_per_roi = plane * std::max<int64_t>(max_grid, 1);
    const int64_t work = R * C * plane * std::max<int64_t>(max_grid, 1) * 4;
    const int64_t nthreads = work > 65536 ? std::min<int64_t>(R, 64) : 1;
    // One precalc table per chunk of rois (chunks run in parallel).
    const int64_t chunks = std::max<int64_t>(nthreads, 1);
    PreCalc* pcs = static_cast<PreCalc*>(ctx.Scratch(sizeof(PreCalc) * pc_per_roi * chunks));
    const int64_t rois_per_chunk = (R + chunks - 1) / chunks;
    auto run_chunk = [&](int64_t chunk) {
      PreCalc* pc = pcs + chunk * pc_per_roi;
      const int64_t r0 = chunk * rois_per_chunk, r1 = std::min(R, r0 + rois_per_chunk);
      for (int64_t r = r0; r < r1; ++r) {
        const RoiGeom& g = geo[r];
        const int64_t b = batch_of(r);
        int64_t idx = 0;
        for (int64_t ph = 0; ph < out_h_; ++ph) {
          for (int64_t pw = 0; pw < out_w_; ++pw) {
            for (int64_t iy = 0; iy < g.gh; ++iy) {
              const Acc yy = g.sh + static_cast<Acc>(ph) * g.bh +
                             (static_cast<Acc>(iy) + Acc(0.5)) * g.bh / static_cast<Acc>(g.gh);
              for (int64_t ix = 0; ix < g.gw; ++ix) {
                const Acc xx = g.sw + static_cast<Acc>(pw) * g.bw +
                               (static_cast<Acc>(ix) + Acc(0.5)) * g.bw / static_cast<Acc>(g.gw);
                PreCalc& q = pc[idx++];
                Acc yv = yy, xv = xx;
                if (yv < Acc(-1) || yv > static_cast<Acc>(H) || xv < Acc(-1) || xv > static_cast<Acc>(W) || H == 0 ||
                    W == 0) {
                  q = PreCalc{0, 0, 0, 0, 0, 0, 0, 0};
                  continue;
                }
                yv = std::max(yv, Acc(0));
                xv = std::max(xv, Acc(0));
                int64_t yl = static_cast<int64_t>(yv), xl = static_cast<int64_t>(xv), yh, xh;
                if (yl >= H - 1) {
                  yh = yl = H - 1;
                  yv = static_cast<Acc>(yl);
                } else {
                  yh = yl + 1;
                }
                if (xl >= W - 1) {
                  xh = xl = W - 1;
                  xv = static_cast<Acc>(xl);
                } else {
                  xh = xl + 1;
                }
                const Acc ly = yv - static_cast<Acc>(yl), lx = xv - static_cast<Acc>(xl);
                const Acc hy = Acc(1) - ly, hx = Acc(1) - lx;
                q.p1 = yl * W + xl;
                q.p2 = yl * W + xh;
                q.p3 = yh * W + xl;
                q.p4 = yh * W + xh;
                q.w1 = hy * hx;
                q.w2 = hy * lx;
                q.w3 = ly * hx;
                q.w4 = ly * lx;
              }
            }
          }
        }
        const int64_t grid = g.gh * g.gw;
        const Acc count = static_cast<Acc>(std::max<int64_t>(grid, 1));
        for (int64_t c = 0; c < C; ++c) {
          const T* src = xd + (b * C + c) * H * W;
          T* dst = yd + (r * C + c) * plane;
          const PreCalc* q = pc;
          for (int64_t o = 0; o < plane; ++o) {
            Acc v = 0;
            if (!max_mode_) {
              for (int64_t s = 0; s < grid; ++s, ++q) {
                v += Acc(q->w1) * static_cast<Acc>(src[q->p1]) + Acc(q->w2) * static_cast<Acc>(src[q->p2]) +
                     Acc(q->w3) * static_cast<Acc>(src[q->p3]) + Acc(q->w4) * static_cast<Acc>(src[q->p4]);
              }
              v /= count;
            } else {
              for (int64_t s = 0; s < grid; ++s, ++q) {
                const Acc m = std::max(std::max(Acc(q->w1) * static_cast<Acc>(src[q->p1]),
                                                Acc(q->w2) * static_cast<Acc>(src[q->p2])),
                                       std::max(Acc(q->w3) * static_cast<Acc>(src[q->p3]),
                                                Acc(q->w4) * static_cast<Acc>(src[q->p4])));
                v = s == 0 ? m : std::max(v, m);
              }
            }
            dst[o] = static_cast<T>(v);
          }
        }
      }
    };
    if (chunks == 1) {
      run_chunk(0);
    } else {
      ctx.pool().ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t ch = begin; ch < end; ++ch) run_chunk(ch);
      });
    }
    return Status::Ok();
  }

  bool max_mode_ = false;
  bool half_pixel_ = true;
  int64_t out_h_ = 1, out_w_ = 1, sampling_ratio_ = 0;
  float spatial_scale_ = 1.0f;
};

// ---------------------------------------------------------------------------------------------
// MaxUnpool: X [N, C, d...], I (int64 flat indices into the inferred output), optional output_shape.

class MaxUnpoolKernel : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    kernel_ = n.GetInts("kernel_shape");
    if (kernel_.empty()) return n.Error("attribute kernel_shape is required");
    if (kernel_.size() > 8) return n.Error("at most 8 spatial dims are supported");
    const size_t k = kernel_.size();
    pads_ = n.GetInts("pads");
    if (pads_.empty()) pads_.assign(2 * k, 0);
    strides_ = n.GetInts("strides");
    if (strides_.empty()) strides_.assign(k, 1);
    if (pads_.size() != 2 * k || strides_.size() != k) {
      return n.Error("pads must have 2*len(kernel_shape) and strides len(kernel_shape) values");
    }
    for (size_t i = 0; i < k; ++i) {
      if (kernel_[i] <= 0 || strides_[i] <= 0 || pads_[i] < 0 || pads_[i + k] < 0) {
        return n.Error("kernel_shape and strides must be positive, pads non-negative");
      }
    }
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* ind = ctx.input(1);
    if (x == nullptr || ind == nullptr) return ctx.Error("inputs X and I are required");
    const int k = static_cast<int>(kernel_.size());
    if (x->rank() != k + 2) {
      return ctx.Error("input X must have rank " + std::to_string(k + 2) + ", got " + x->shape().ToString());
    }
    if (ind->shape() != x->shape()) {
      return ctx.Error("input I shape " + ind->shape().ToString() + " must equal X shape " + x->shape().ToString());
    }
    if (ind->dtype() != DataType::kInt64) return ctx.Error("input I must be int64");
    Shape inferred = x->shape();
    for (int d = 0; d < k; ++d) {
      inferred[d + 2] = (x->dim(d + 2) - 1) * strides_[d] - (pads_[d] + pads_[k + d]) + kernel_[d];
      if (inferred[d + 2] < 0) return ctx.Error("inferred output dim is negative");
    }
    Shape out_shape = inferred;
    const Tensor* os = ctx.input(2);
    if (os != nullptr) {
      std::vector<int64_t> v;
      RETURN_IF_ERROR(ReadInt64s(*os, &v));
      if (static_cast<int>(v.size()) != k + 2) {
        return ctx.Error("output_shape must have " + std::to_string(k + 2) + " values");
      }
      out_shape = Shape(std::span<const int64_t>(v));
      for (int d = 0; d < k + 2; ++d) {
        if (out_shape[d] < inferred[d]) {
          return ctx.Error("output_shape " + out_shape.ToString() + " is smaller than the inferred shape " +
                           inferred.ToString());
        }
      }
    }
    const int64_t total_inferred = inferred.NumElements();
    const size_t es = ElementSize(x->dtype());
    if (es == 0 || x->dtype() == DataType::kString) return ctx.Error("unsupported X type");
    Tensor* y = ctx.Output(0, x->dtype(), out_shape);
    std::memset(y->raw_data(), 0, y->bytes());
    const int64_t n = x->num_elements();
    const int64_t* id = ind->data<int64_t>();
    const char* xs = static_cast<const char*>(x->raw_data());
    char* yd = static_cast<char*>(y->raw_data());
    const bool same = out_shape == inferred;
    int64_t in_strides[Shape::kInline * 2], out_strides[Shape::kInline * 2];
    if (!same) {
      RowMajorStrides(inferred, in_strides);
      RowMajorStrides(out_shape, out_strides);
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t idx = id[i];
      if (idx < 0 || idx >= total_inferred) {
        return ctx.Error("index I[" + std::to_string(i) + "] = " + std::to_string(idx) + " out of range");
      }
      if (!same) {
        int64_t o = 0, rem = idx;
        for (int d = 0; d < k + 2; ++d) {
          const int64_t c = rem / in_strides[d];
          rem -= c * in_strides[d];
          o += c * out_strides[d];
        }
        idx = o;
      }
      std::memcpy(yd + idx * es, xs + i * es, es);
    }
    return Status::Ok();
  }

 private:
  std::vector<int64_t> kernel_, pads_, strides_;
};

}  // namespace

void RegisterDetectionOps(OpRegistry& r) {
  r.Add("", "NonMaxSuppression", Factory<NonMaxSuppressionKernel>(), 10);
  r.Add("", "RoiAlign", Factory<RoiAlignKernel>(), 10);
  r.Add("", "MaxUnpool", Factory<MaxUnpoolKernel>(), 9);
}

}  // namespace onnxd::engine
