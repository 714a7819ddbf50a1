/* spec_presets.c — built-in architecture presets and spec resolution.
 *
 * The presets are the JSON files in models/ (the single source of truth a
 * person reads and edits); CMake embeds them into the binary as the generated
 * table ft_presets_gen.h, so `--arch seed-mnist` works from any directory and
 * in an installed binary with no side files. Anything that is not a preset
 * name is treated as a path to a spec file.
 */
#include <stdlib.h>
#include <string.h>

#include "facetwin/image.h"
#include "facetwin/net.h"
#include "ft_presets_gen.h" /* static const struct { const char *name, *json; } k_presets[]; */

#define FT_SPEC_MAX_BYTES (1u << 20)

const char *const *ft_spec_presets(void)
{
    static const char *names[sizeof k_presets / sizeof k_presets[0] + 1];
    size_t n = sizeof k_presets / sizeof k_presets[0];
    for (size_t i = 0; i < n; i++) names[i] = k_presets[i].name;
    names[n] = NULL;
    return names;
}

ft_status ft_spec_resolve(const char *name_or_path, char **spec_json, ft_error *err)
{
    *spec_json = NULL;
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++) {
        if (!strcmp(name_or_path, k_presets[i].name)) {
            *spec_json = strdup(k_presets[i].json);
            return *spec_json ? FT_OK : ft_error_set(err, FT_ENOMEM, "out of memory");
        }
    }
    if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".json"))
        return ft_error_set(err, FT_EINVAL, "unknown architecture '%s' (not a preset, not a .json path)",
                            name_or_path);
    uint8_t *buf;
    size_t n;
    ft_status st = ft_read_file(name_or_path, FT_SPEC_MAX_BYTES, &buf, &n, err);
    if (st) return st;
    char *s = realloc(buf, n + 1);
    if (!s) {
        free(buf);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    s[n] = '\0';
    if (strlen(s) != n) {
        free(s);
        return ft_error_set(err, FT_EFORMAT, "%s: spec contains a NUL byte", name_or_path);
    }
    *spec_json = s;
    return FT_OK;
}
