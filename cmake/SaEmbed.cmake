# sa_embed(OUT <file.c> FILES <files...> NAMES <symbols...> COMMENT <text>):
# a build step that turns FILES into C byte arrays named NAMES, regenerated
# when a file changes (the work is cmake/embed.cmake, run in script mode).
function(sa_embed)
  cmake_parse_arguments(E "" "OUT;COMMENT" "FILES;NAMES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} "-DFILES=${E_FILES}" "-DNAMES=${E_NAMES}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "${E_COMMENT}"
    VERBATIM)
endfunction()
