# `cpack -G DEB` in the build dir: two packages for bookworm, as Debian splits a library.
#   jobd_<v>_<arch>.deb      the binaries, the systemd unit and the dashboard under
#                            /usr/share/jobd; Depends: from dpkg-shlibdeps (libgrpc++1.51, ...)
#   jobd-dev_<v>_<arch>.deb  headers, static libraries, the CMake package and jobd.pc; Depends:
#                            jobd and the -dev packages its CMake config and jobd.pc look for
# The unit is not enabled or copied to /lib/systemd: it runs as a user `jobd` the package does
# not create (docs/deploy.md, "systemd").
set(CPACK_PACKAGE_NAME jobd)
set(CPACK_PACKAGE_VENDOR jobd)
set(CPACK_PACKAGE_CONTACT "jobd maintainers <jobd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "per-host job coordinator: a preforked worker pool behind a Unix socket")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME jobd)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME jobd-dev)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libgrpc++-dev (>= 1.51), libprotobuf-dev (>= 3.21), libabsl-dev, pkg-config")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "jobd agent, jobctl and jobd-testworker\n A service hands CPU-heavy or slow work to a pool of preforked workers on the same host;\n payloads travel through shared memory, control over gRPC on a Unix socket.")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "jobd client SDK (headers, static libraries, CMake package, pkg-config)\n find_package(jobd CONFIG) gives jobd::client; pkg-config jobd gives the flags.")
include(CPack)
