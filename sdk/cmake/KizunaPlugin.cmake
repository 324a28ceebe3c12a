# kizuna_add_plugin(NAME SOURCES src.c ... [LINK_LIBRARIES lib ...]
#                   [OUTPUT_DIRECTORY dir] [INSTALL_DIR dir] [NO_INSTALL])
#
# Builds a Kizuna plugin: a MODULE library named NAME.so (no "lib"
# prefix) that exports only its entry symbol (hidden visibility) and has
# every symbol resolved at link time (-z defs) and bound at load (-z now).
# Installs it to INSTALL_DIR (default: lib/kizuna/plugins under the
# install prefix) unless NO_INSTALL is given.
#
# Requires the imported target Kizuna::sdk (find_package(KizunaSDK) makes it).
include_guard(GLOBAL)
include(GNUInstallDirs)

function(kizuna_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY;INSTALL_DIR" "SOURCES;LINK_LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "kizuna_add_plugin(${name}): no SOURCES given")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE Kizuna::sdk ${ARG_LINK_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_link_options(${name} PRIVATE "LINKER:-z,defs" "LINKER:-z,now")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(NOT ARG_NO_INSTALL)
    if(NOT ARG_INSTALL_DIR)
      set(ARG_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/kizuna/plugins")
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION "${ARG_INSTALL_DIR}")
  endif()
endfunction()
