#include "image/layout.hpp"

#include <doctest.h>

using namespace husk::image;

TEST_CASE("image layout: platforms parse as OS/ARCH[/VARIANT], and nothing else")
{
    auto p = parse_platform("linux/arm/v7");
    REQUIRE(p);
    CHECK(p->os == "linux");
    CHECK(p->architecture == "arm");
    CHECK(p->variant == "v7");
    CHECK(p->str() == "linux/arm/v7");
    CHECK(parse_platform("linux/amd64")->str() == "linux/amd64");
    CHECK_FALSE(parse_platform("linux"));
    CHECK_FALSE(parse_platform(""));
    CHECK_FALSE(parse_platform("linux//v7"));
    CHECK_FALSE(parse_platform("/amd64"));
    CHECK_FALSE(parse_platform("linux/amd64/"));
    CHECK_FALSE(parse_platform("linux/arm/v7/extra"));
}

TEST_CASE("image layout: LAYOUT[:REF] splits at the reference's colon")
{
    auto tag = split_layout_ref("/nonexistent/img:latest");
    CHECK(tag.path == "/nonexistent/img");
    CHECK(tag.ref == "latest");
    std::string hex(64, 'a');
    auto digest = split_layout_ref("/nonexistent/img:sha256:" + hex);
    CHECK(digest.path == "/nonexistent/img");
    CHECK(digest.ref == "sha256:" + hex);
    // A colon before the last slash belongs to the path.
    auto in_path = split_layout_ref("/nonexistent/a:b/img");
    CHECK(in_path.path == "/nonexistent/a:b/img");
    CHECK(in_path.ref.empty());
    auto none = split_layout_ref("img");
    CHECK(none.path == "img");
    CHECK(none.ref.empty());
    // A path that exists is all path, colon or not.
    auto existing = split_layout_ref("/");
    CHECK(existing.path == "/");
    CHECK(existing.ref.empty());
}

TEST_CASE("image layout: only layer tar media types are layers")
{
    CHECK(is_layer_media_type("application/vnd.oci.image.layer.v1.tar"));
    CHECK(is_layer_media_type("application/vnd.oci.image.layer.v1.tar+gzip"));
    CHECK(is_layer_media_type("application/vnd.oci.image.layer.v1.tar+zstd"));
    CHECK(is_layer_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"));
    CHECK(is_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"));
    CHECK_FALSE(is_layer_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"));
    CHECK_FALSE(is_layer_media_type("application/vnd.oci.image.layer.v1.tarx"));
    CHECK_FALSE(is_layer_media_type("application/vnd.oci.image.config.v1+json"));
    CHECK_FALSE(is_layer_media_type(""));
}
