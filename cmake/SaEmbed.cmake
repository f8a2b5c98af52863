# sa_embed(OUT <file.c> FILES <files...> NAMES <symbols...> COMMENT <text>):
# a build step that turns FILES into C byte arrays named NAMES, regenerated
# when a file changes (the work is cmake/embed.cmake, run in script mode).
# A FILES entry "a+b" is the concatenation of a and b.
function(sa_embed)
  cmake_parse_arguments(E "" "OUT;COMMENT" "FILES;NAMES" ${ARGN})
  string(REPLACE "+" ";" deps "${E_FILES}")
  list(REMOVE_DUPLICATES deps)
  add_custom_command(
    OUTPUT ${E_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} "-DFILES=${E_FILES}" "-DNAMES=${E_NAMES}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${deps} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "${E_COMMENT}"
    VERBATIM)
endfunction()

# sa_embed_lua(<var> PREFIX <prefix> SCRIPTS <names...> COMMENT <text>
#              [PRELUDE <name> FOR <names...>]): the Redis scripts
# lua/<name>.lua of the calling folder, embedded as byte arrays
# <prefix>_<name> in <binary dir>/<prefix>.c; <var> is set to that file. The
# scripts named after FOR get lua/<PRELUDE>.lua in front of them (the
# functions they share, written once).
function(sa_embed_lua var)
  cmake_parse_arguments(L "" "PREFIX;COMMENT;PRELUDE" "SCRIPTS;FOR" ${ARGN})
  set(files)
  set(names)
  foreach(name IN LISTS L_SCRIPTS)
    set(file ${CMAKE_CURRENT_SOURCE_DIR}/lua/${name}.lua)
    if(name IN_LIST L_FOR)
      set(file ${CMAKE_CURRENT_SOURCE_DIR}/lua/${L_PRELUDE}.lua+${file})
    endif()
    list(APPEND files ${file})
    list(APPEND names ${L_PREFIX}_${name})
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${L_PREFIX}.c)
  sa_embed(OUT ${out} FILES ${files} NAMES ${names} COMMENT "${L_COMMENT}")
  set(${var} ${out} PARENT_SCOPE)
endfunction()
