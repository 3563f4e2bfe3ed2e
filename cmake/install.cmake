# What `cmake --install` puts where, and the package users find it by:
#   bin/                       jobd, jobctl, jobd-testworker                      (component runtime)
#   share/jobd/systemd/        jobd.service, ExecStart pointing at this bin/      (runtime)
#   share/jobd/grafana/        the chart's dashboard.json                         (runtime)
#   include/jobd/{client,shm}/ the SDK's public headers                           (dev)
#   lib/                       libjobd_client.a and the two it needs              (dev)
#   lib/cmake/jobd/            find_package(jobd CONFIG) -> jobd::client          (dev)
#   lib/pkgconfig/jobd.pc      pkg-config jobd                                    (dev)
include(CMakePackageConfigHelpers)

set(JOBD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/jobd)

# The libraries are static: a user may link them into a shared object (a PHP extension, a
# plugin), so they are position independent. Nothing is meant to interpose on their functions,
# so the compiler may still inline and bind them locally as it did before -fPIC.
foreach(lib client shm proto)
  set_target_properties(jobd_${lib} PROPERTIES EXPORT_NAME ${lib} POSITION_INDEPENDENT_CODE ON)
  target_compile_options(jobd_${lib} PRIVATE -fno-semantic-interposition)
endforeach()

install(TARGETS jobd jobctl jobd-testworker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS jobd_client jobd_shm jobd_proto EXPORT jobdTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

# Only the headers a user includes, directly or through another public header. The rest
# (client/internal/, client/peer_channel.h, shm/channel_file.h, the rings, the generated proto)
# are the SDK's internals; scripts/check_package.sh compiles every installed header on its own,
# so a public header that starts including an internal one fails there.
install(FILES
          ${PROJECT_SOURCE_DIR}/client/chunking.h
          ${PROJECT_SOURCE_DIR}/client/job_awaiter.h
          ${PROJECT_SOURCE_DIR}/client/job_client.h
          ${PROJECT_SOURCE_DIR}/client/job_context.h
          ${PROJECT_SOURCE_DIR}/client/job_error.h
          ${PROJECT_SOURCE_DIR}/client/job_timings.h
          ${PROJECT_SOURCE_DIR}/client/launcher.h
          ${PROJECT_SOURCE_DIR}/client/proto_helpers.h
          ${PROJECT_SOURCE_DIR}/client/response.h
          ${PROJECT_SOURCE_DIR}/client/socket_path.h
          ${PROJECT_SOURCE_DIR}/client/task.h
          ${PROJECT_SOURCE_DIR}/client/worker.h
          ${PROJECT_SOURCE_DIR}/client/worker_env.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/jobd/client COMPONENT dev)
install(FILES
          ${PROJECT_SOURCE_DIR}/shm/arena.h
          ${PROJECT_SOURCE_DIR}/shm/handle.h
          ${PROJECT_SOURCE_DIR}/shm/monotonic.h
          ${PROJECT_SOURCE_DIR}/shm/size_classes.h
          ${PROJECT_SOURCE_DIR}/shm/wall_clock.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/jobd/shm COMPONENT dev)

install(EXPORT jobdTargets NAMESPACE jobd:: DESTINATION ${JOBD_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/jobdConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/jobdConfig.cmake INSTALL_DESTINATION ${JOBD_CMAKE_DIR})
# 0.x: a minor release may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/jobdConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/jobdConfig.cmake ${PROJECT_BINARY_DIR}/jobdConfigVersion.cmake
        DESTINATION ${JOBD_CMAKE_DIR} COMPONENT dev)

file(RELATIVE_PATH JOBD_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" JOBD_PC_TO_PREFIX "${JOBD_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/jobd.pc.in ${PROJECT_BINARY_DIR}/jobd.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/jobd.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(FILES ${PROJECT_SOURCE_DIR}/helm/jobd/files/dashboard.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/jobd/grafana COMPONENT runtime)

# The unit in deploy/ documents a hand install to /usr/local/bin. The installed copy must
# start the jobd installed beside it, and the prefix is only known at install time (cpack
# installs with prefix /usr, `cmake --install --prefix P` with P), so it is rewritten then.
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/deploy/systemd/jobd.service\" unit)
  string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" unit \"\${unit}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/installed-unit/jobd.service\" \"\${unit}\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/jobd/systemd\" TYPE FILE
       FILES \"${PROJECT_BINARY_DIR}/installed-unit/jobd.service\")
" COMPONENT runtime)
