/* A smoke test of the packaged win-x64 library: loads tenantsync_ffi.dll the way the module's
 * P/Invoke layer does (by path, functions looked up by name), asks its version and evaluates an
 * expression. Cross-compiled with mingw-w64 and run under wine by scripts/package-module when
 * wine is installed:
 *
 *   x86_64-w64-mingw32-gcc -O1 -o dll_smoke.exe powershell/wine/dll_smoke.c
 *   wine dll_smoke.exe dist/TenantSync/runtimes/win-x64/native/tenantsync_ffi.dll 0.1.0
 *
 * Prints what it found; exits 0 when the library answered as expected. */
#include <stdio.h>
#include <string.h>
#include <windows.h>

typedef const char *(*version_fn)(void);
typedef unsigned int (*eval_fn)(const char *, const char *, char **);
typedef unsigned int (*free_fn)(char *);

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: dll_smoke.exe PATH-TO-tenantsync_ffi.dll EXPECTED-VERSION\n");
        return 2;
    }
    HMODULE lib = LoadLibraryA(argv[1]);
    if (lib == NULL) {
        fprintf(stderr, "cannot load %s (error %lu)\n", argv[1], GetLastError());
        return 1;
    }
    version_fn version = (version_fn)GetProcAddress(lib, "tenantsync_version");
    eval_fn eval = (eval_fn)GetProcAddress(lib, "tenantsync_expr_eval");
    free_fn string_free = (free_fn)GetProcAddress(lib, "tenantsync_string_free");
    if (version == NULL || eval == NULL || string_free == NULL) {
        fprintf(stderr, "the library lacks tenantsync_version, tenantsync_expr_eval or tenantsync_string_free\n");
        return 1;
    }
    const char *v = version();
    printf("version %s\n", v);
    if (strcmp(v, argv[2]) != 0) {
        fprintf(stderr, "expected version %s\n", argv[2]);
        return 1;
    }
    char *out = NULL;
    unsigned int status = eval("Join(\" \", [givenName], [surname])",
                               "{\"attributes\":{\"givenName\":\"Ada\",\"surname\":\"Lovelace\"}}", &out);
    printf("expr status %u: %s\n", status, out ? out : "(none)");
    int ok = status == 0 && out != NULL && strcmp(out, "{\"value\":\"Ada Lovelace\"}") == 0;
    if (out != NULL) string_free(out);
    FreeLibrary(lib);
    return ok ? 0 : 1;
}
