// From an image to a runtime bundle: BUNDLE/rootfs (the layers applied in order, or an
// overlay of cached layers) and BUNDLE/config.json (the image config converted). A bundle
// is made whole or not at all: any failure removes what was written, and the directory
// itself when this module made it. BUNDLE/husk-image.json marks a bundle as ours, so that
// remove_bundle never deletes a directory it did not make.
#pragma once

#include "common/error.hpp"
#include "image/layout.hpp"

#include <string>
#include <vector>

namespace husk::image {

struct UnpackRequest {
    std::string image;  // LAYOUT[:REF]
    std::string bundle; // made if missing; an existing one must be an empty directory
    Platform platform;
    bool rootless = false;
    // Non-empty: layers are unpacked once into this directory, keyed by digest, and the
    // rootfs is an overlay of them (root only).
    std::string cache_dir;
    // For `run --image`: the container that owns the bundle and the state root it lives in;
    // `delete` of that container removes the bundle.
    std::string owner_id;
    std::string owner_root;
};

struct UnpackReport {
    std::string manifest; // digest
    size_t layers = 0;
    size_t layers_from_cache = 0;
    uint64_t entries = 0;
    uint64_t bytes = 0;
    bool overlay = false;
    std::vector<std::string> warnings;
};

Result<UnpackReport> unpack_image(const UnpackRequest& request);

// Removes a bundle unpack_image made (unmounting an overlay rootfs first). A directory
// without husk-image.json is refused.
Result<> remove_bundle(const std::string& bundle);

// Where `run --image` puts the bundle of container `id` when no --bundle is given:
// $HUSK_IMAGE_BUNDLES/<id>, by default /var/lib/husk/bundles/<id>.
std::string owned_bundle_path(const std::string& id);

// Removes the bundle at owned_bundle_path(id) if its marker says container `id` under
// state root `root` owns it; does nothing otherwise.
Result<> remove_owned_bundle(const std::string& id, const std::string& root);

} // namespace husk::image
