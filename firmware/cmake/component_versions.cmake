# The version an IDF Component Manager manifest (idf_component.yml) declares, for the banner:
# the chip build reads it from the managed esp-tflite-micro and esp-nn components it links,
# the host build from TFLM_SOURCE_DIR. Script-mode safe (no targets, no properties).
#
#   tmh_manifest_version(<out-var> <path to idf_component.yml>)   -> "1.4.0", or "unknown"

function(tmh_manifest_version out manifest)
  set(version "unknown")
  if(EXISTS "${manifest}")
    file(STRINGS "${manifest}" lines REGEX "^version:")
    if(lines)
      list(GET lines 0 line)
      string(REGEX REPLACE "^version:[ \t]*[\"']?([^\"' \t#]+).*$" "\\1" version "${line}")
    endif()
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()
