// ImageDecoder (20): encoded image bytes (1-D uint8) -> [H, W, 3] RGB / BGR or [H, W, 1] grayscale
// uint8. Formats decoded here: PNG (8-bit gray, gray+alpha, RGB, RGBA, palette; not interlaced;
// zlib inflates), BMP (uncompressed 8-bit palette, 24- and 32-bit) and PNM (P2, P3, P5, P6 up to
// maxval 255). JPEG, JPEG 2000, TIFF and WebP need codec libraries onnxd does not link: they fail
// with UNIMPLEMENTED naming the format. Alpha is dropped; grayscale is ITU-R 601 luma rounded as
// Pillow (the ONNX reference) computes it.
#include <zlib.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op_kernel.h"
#include "ops/op_util.h"

namespace onnxd::engine {
namespace {

// An 8-bit RGB image, row-major.
struct Rgb {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> px;  // h * w * 3
};

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Guards against absurd sizes in headers before anything is allocated: at most 2^16 a side and
// 2^26 pixels (64 Mpx, 192 MiB decoded).
bool SaneSize(int64_t w, int64_t h) {
  return w > 0 && h > 0 && w <= (1 << 16) && h <= (1 << 16) && w * h <= (int64_t{1} << 26);
}

std::string DecodePng(const uint8_t* d, size_t n, Rgb* img) {
  size_t pos = 8;
  uint32_t w = 0, h = 0;
  int depth = 0, color = -1, interlace = 0;
  std::vector<uint8_t> idat, palette;
  bool ended = false;
  while (pos + 12 <= n && !ended) {
    const uint32_t len = Be32(d + pos);
    if (len > n - pos - 12) return "truncated PNG chunk";
    const std::string type(reinterpret_cast<const char*>(d + pos + 4), 4);
    const uint8_t* c = d + pos + 8;
    if (type == "IHDR") {
      if (len < 13) return "short IHDR";
      w = Be32(c);
      h = Be32(c + 4);
      depth = c[8];
      color = c[9];
      interlace = c[12];
    } else if (type == "PLTE") {
      palette.assign(c, c + len);
    } else if (type == "IDAT") {
      idat.insert(idat.end(), c, c + len);
    } else if (type == "IEND") {
      ended = true;
    }
    pos += 12 + len;
  }
  if (!SaneSize(w, h)) return "bad PNG size";
  if (depth != 8) return "PNG bit depth " + std::to_string(depth) + " is not supported (8 only)";
  if (interlace != 0) return "interlaced PNG is not supported";
  int ch = 0;
  switch (color) {
    case 0: ch = 1; break;
    case 2: ch = 3; break;
    case 3: ch = 1; break;
    case 4: ch = 2; break;
    case 6: ch = 4; break;
    default: return "bad PNG color type " + std::to_string(color);
  }
  if (color == 3 && palette.size() < 3) return "palette PNG without PLTE";
  const size_t stride = static_cast<size_t>(w) * ch;
  std::vector<uint8_t> raw((stride + 1) * h);
  uLongf out_len = static_cast<uLongf>(raw.size());
  if (uncompress(raw.data(), &out_len, idat.data(), static_cast<uLong>(idat.size())) != Z_OK || out_len != raw.size())
    return "corrupt PNG image data";
  // Undo the per-row filters in place (bytes per pixel = ch at depth 8).
  std::vector<uint8_t> prev(stride, 0);
  img->h = h;
  img->w = w;
  img->px.resize(static_cast<size_t>(w) * h * 3);
  for (uint32_t y = 0; y < h; ++y) {
    uint8_t* row = raw.data() + y * (stride + 1) + 1;
    const int filter = row[-1];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(ch) ? row[i - ch] : 0, b = prev[i],
                cc = i >= static_cast<size_t>(ch) ? prev[i - ch] : 0;
      int add = 0;
      switch (filter) {
        case 0: break;
        case 1: add = a; break;
        case 2: add = b; break;
        case 3: add = (a + b) / 2; break;
        case 4: {
          const int p = a + b - cc, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - cc);
          add = pa <= pb && pa <= pc ? a : (pb <= pc ? b : cc);
          break;
        }
        default: return "bad PNG filter " + std::to_string(filter);
      }
      row[i] = static_cast<uint8_t>(row[i] + add);
    }
    std::memcpy(prev.data(), row, stride);
    uint8_t* out = img->px.data() + static_cast<size_t>(y) * w * 3;
    for (uint32_t x = 0; x < w; ++x) {
      const uint8_t* p = row + static_cast<size_t>(x) * ch;
      if (color == 3) {
        if (static_cast<size_t>(p[0]) * 3 + 2 >= palette.size()) return "PNG palette index out of range";
        std::memcpy(out + x * 3, palette.data() + p[0] * 3, 3);
      } else if (ch <= 2) {
        out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = p[0];
      } else {
        std::memcpy(out + x * 3, p, 3);
      }
    }
  }
  return "";
}

std::string DecodeBmp(const uint8_t* d, size_t n, Rgb* img) {
  if (n < 54) return "truncated BMP header";
  const uint32_t off = Le32(d + 10), dib = Le32(d + 14);
  if (dib < 40) return "BMP core headers are not supported";
  const int32_t w = static_cast<int32_t>(Le32(d + 18)), hs = static_cast<int32_t>(Le32(d + 22));
  const int bpp = Le16(d + 28);
  const uint32_t compression = Le32(d + 30);
  if (compression != 0) return "compressed BMP (method " + std::to_string(compression) + ") is not supported";
  const bool top_down = hs < 0;
  const int64_t h = top_down ? -static_cast<int64_t>(hs) : hs;
  if (!SaneSize(w, h)) return "bad BMP size";
  if (bpp != 8 && bpp != 24 && bpp != 32) return "BMP with " + std::to_string(bpp) + " bits per pixel is not supported";
  const size_t stride = ((static_cast<size_t>(w) * bpp + 31) / 32) * 4;
  if (off > n || stride * h > n - off) return "truncated BMP pixel data";
  uint64_t colors = Le32(d + 46);
  if (bpp == 8 && colors == 0) colors = 256;
  if (bpp == 8 && 14 + uint64_t{dib} + colors * 4 > n) return "truncated BMP palette";
  const uint8_t* pal = bpp == 8 ? d + 14 + dib : nullptr;
  img->h = h;
  img->w = w;
  img->px.resize(static_cast<size_t>(w) * h * 3);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = d + off + stride * static_cast<size_t>(top_down ? y : h - 1 - y);
    uint8_t* out = img->px.data() + static_cast<size_t>(y) * w * 3;
    for (int32_t x = 0; x < w; ++x) {
      const uint8_t* bgr;
      if (bpp == 8) {
        if (row[x] >= colors) return "BMP palette index out of range";
        bgr = pal + row[x] * 4;
      } else {
        bgr = row + static_cast<size_t>(x) * (bpp / 8);
      }
      out[x * 3] = bgr[2];
      out[x * 3 + 1] = bgr[1];
      out[x * 3 + 2] = bgr[0];
    }
  }
  return "";
}

std::string DecodePnm(const uint8_t* d, size_t n, Rgb* img) {
  const char kind = static_cast<char>(d[1]);
  size_t pos = 2;
  auto token = [&](int64_t* v) -> bool {
    while (pos < n && (std::isspace(d[pos]) || d[pos] == '#')) {
      if (d[pos] == '#')
        while (pos < n && d[pos] != '\n') ++pos;
      else
        ++pos;
    }
    if (pos >= n || !std::isdigit(d[pos])) return false;
    *v = 0;
    while (pos < n && std::isdigit(d[pos]) && *v < (int64_t{1} << 40)) *v = *v * 10 + (d[pos++] - '0');
    return true;
  };
  int64_t w = 0, h = 0, maxval = 0;
  if (!token(&w) || !token(&h) || !token(&maxval)) return "bad PNM header";
  if (!SaneSize(w, h) || maxval <= 0 || maxval > 255) return "PNM size or maxval not supported (maxval <= 255)";
  const bool rgb = kind == '3' || kind == '6', ascii = kind == '2' || kind == '3';
  const int64_t count = w * h * (rgb ? 3 : 1);
  std::vector<uint8_t> vals(static_cast<size_t>(count));
  if (ascii) {
    for (int64_t i = 0; i < count; ++i) {
      int64_t v = 0;
      if (!token(&v) || v > maxval) return "bad PNM sample";
      vals[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    }
  } else {
    ++pos;  // the single whitespace after maxval
    if (pos > n || static_cast<size_t>(count) > n - pos) return "truncated PNM pixel data";
    std::memcpy(vals.data(), d + pos, static_cast<size_t>(count));
  }
  if (maxval != 255)
    for (auto& v : vals) v = static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
  img->h = h;
  img->w = w;
  img->px.resize(static_cast<size_t>(w * h * 3));
  for (int64_t i = 0; i < w * h; ++i)
    for (int c = 0; c < 3; ++c) img->px[static_cast<size_t>(i * 3 + c)] = vals[static_cast<size_t>(rgb ? i * 3 + c : i)];
  return "";
}

// The container's name from its magic bytes, "" when unknown.
std::string Sniff(const uint8_t* d, size_t n) {
  auto starts = [&](const char* m, size_t len) { return n >= len && std::memcmp(d, m, len) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return "png";
  if (starts("BM", 2)) return "bmp";
  if (n >= 2 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6')) return "pnm";
  if (starts("\xff\xd8\xff", 3)) return "JPEG";
  if (starts("\x00\x00\x00\x0cjP  ", 8) || starts("\xff\x4f\xff\x51", 4)) return "JPEG 2000";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "TIFF";
  if (n >= 12 && starts("RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
  return "";
}

class ImageDecoderKernel final : public OpKernel {
 public:
  Status Init(const NodeInfo& n) {
    format_ = n.GetString("pixel_format", "RGB");
    if (format_ != "RGB" && format_ != "BGR" && format_ != "Grayscale")
      return n.Error("pixel_format must be RGB, BGR or Grayscale, got '" + format_ + "'");
    return Status::Ok();
  }

  Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr || x->dtype() != DataType::kUInt8 || x->rank() != 1)
      return ctx.Error("encoded_stream must be a 1-D uint8 tensor");
    const uint8_t* d = x->data<uint8_t>();
    const size_t n = static_cast<size_t>(x->num_elements());
    const std::string kind = Sniff(d, n);
    Rgb img;
    std::string err;
    if (kind == "png") err = DecodePng(d, n, &img);
    else if (kind == "bmp") err = DecodeBmp(d, n, &img);
    else if (kind == "pnm") err = DecodePnm(d, n, &img);
    else if (!kind.empty())
      return Status(StatusCode::kUnimplemented, "node '" + ctx.node_name() + "' (ImageDecoder): " + kind +
                                                    " images are not supported (PNG, BMP and PNM are)");
    else
      return ctx.Error("encoded_stream is not an image format onnxd knows");
    if (!err.empty()) return ctx.Error(kind + ": " + err);
    const int64_t pixels = img.h * img.w;
    if (format_ == "Grayscale") {
      Tensor* y = ctx.Output(0, DataType::kUInt8, Shape{img.h, img.w, 1});
      uint8_t* out = y->data<uint8_t>();
      for (int64_t i = 0; i < pixels; ++i) {
        const uint8_t* p = img.px.data() + i * 3;
        out[i] = static_cast<uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
      }
      return Status::Ok();
    }
    Tensor* y = ctx.Output(0, DataType::kUInt8, Shape{img.h, img.w, 3});
    uint8_t* out = y->data<uint8_t>();
    const bool bgr = format_ == "BGR";
    for (int64_t i = 0; i < pixels; ++i)
      for (int c = 0; c < 3; ++c) out[i * 3 + c] = img.px[static_cast<size_t>(i * 3 + (bgr ? 2 - c : c))];
    return Status::Ok();
  }

 private:
  std::string format_ = "RGB";
};

}  // namespace

void RegisterImageDecoderOps(OpRegistry& r) { r.Add("", "ImageDecoder", Factory<ImageDecoderKernel>(), 20); }

}  // namespace onnxd::engine
