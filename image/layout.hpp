// An OCI image layout (a directory, or a tar of one) and the walk from a reference to one
// image: index.json -> (nested indexes) -> manifest for a platform -> config and layers.
// Every document is read through its descriptor and verified (size and digest) before it
// is parsed; layer blobs are handed out as fds for the unpacker to verify and read.
// A tar layout is copied into a scratch directory first, taking only the names a layout
// may hold (oci-layout, index.json, blobs/<alg>/<hex>), so no name in it can point anywhere.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "image/digest.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image {

struct Platform {
    std::string os = "linux";
    std::string architecture = "amd64";
    std::string variant; // empty: any

    std::string str() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }
};

// "os/arch[/variant]".
Result<Platform> parse_platform(std::string_view text);

struct Descriptor {
    std::string media_type;
    Digest digest;
    uint64_t size = 0;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;
};

// Whether a media type is one of a layer tar's (OCI, distributable or not, plain, gzip or
// zstd; Docker's). The unpacker tells the compression from the stream itself.
bool is_layer_media_type(std::string_view media_type);

// "LAYOUT[:REF]": the layout path and the reference (tag or digest; empty when none).
// A digest reference keeps its own colon ("dir:sha256:..."); an argument that names an
// existing path is all path.
struct LayoutRef {
    std::string path;
    std::string ref;
};
LayoutRef split_layout_ref(const std::string& arg);

struct Image {
    Descriptor manifest;
    Descriptor config;
    std::vector<Descriptor> layers;
    std::string config_json; // verified
    std::string ref_name;    // the manifest's (or its index's) org.opencontainers.image.ref.name
};

class Layout {
public:
    // `scratch` is an empty directory a tar layout may be copied into (unused for a directory).
    static Result<Layout> open(const std::string& path, const std::string& scratch);

    // A blob's bytes, verified; refuses blobs over `limit` bytes before reading them.
    Result<std::string> read_blob(const Descriptor& d, uint64_t limit) const;
    // A blob's fd, not verified (layers are verified as they are read).
    Result<Fd> open_blob(const Descriptor& d) const;

    // Follows `ref` (tag, digest or empty) to one image for `platform`.
    Result<Image> resolve(std::string_view ref, const Platform& platform) const;

    const std::string& path() const { return m_path; }

private:
    std::string m_path;
    Fd m_dir; // the layout directory (or its scratch copy)
};

} // namespace husk::image
