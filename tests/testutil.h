/*
 * tests/testutil.h — helpers shared by the GTest programs: temporary
 * directories that clean up, file writing, and the paths CMake passes in.
 */
#ifndef KZ_TESTUTIL_H
#define KZ_TESTUTIL_H

#include <glib.h>
#include <glib/gstdio.h>

/* A fresh private directory (mode 0755) under the build tree's temp area. */
static inline char *kz_test_tmpdir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("kizuna-test-XXXXXX", &err);
    g_assert_no_error(err);
    g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
    return dir;
}

static inline void kz_test_rmtree(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert_cmpint(system(cmd), ==, 0);
}

static inline char *kz_test_write(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;
    g_file_set_contents(path, text, -1, &err);
    g_assert_no_error(err);
    return path;
}

static inline void kz_test_copy(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    g_file_get_contents(from, &data, &len, &err);
    g_assert_no_error(err);
    g_file_set_contents_full(to, data, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0755, &err);
    g_assert_no_error(err);
}

/* The first line of `errors` containing `needle`, or NULL. */
static inline const char *kz_test_find(const GPtrArray *errors, const char *needle)
{
    for (guint i = 0; i < errors->len; i++)
        if (strstr(errors->pdata[i], needle) != NULL)
            return errors->pdata[i];
    return NULL;
}

#endif
