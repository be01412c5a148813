// The hand-written layer between the TenantSync module and the generated P/Invoke bindings of
// tenantsync's C ABI (ffi/README.md is the contract). It turns a status code into a
// TenantSyncException carrying the library's code and message, copies and frees every string the
// library returns, and owns the job handles; TenantSync.Run.cs adds runs (start, poll, cancel,
// result). No other managed dependency: it compiles with Add-Type on PowerShell 7.2+ (.NET 6+)
// and with Mono's mcs (the CI test of this layer).
//
// Written for C# 6 so that both compilers accept it.

using System;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using TenantsyncFfi;

namespace TenantSync.Interop
{
    /// <summary>A call into the library failed: the status code and the library's message.</summary>
    public sealed class TenantSyncException : Exception
    {
        /// <summary>The status code (ffi/README.md lists them; 0 is success).</summary>
        public uint Code { get; private set; }

        /// <summary>The status's name (NullArgument, Config, Engine, ...).</summary>
        public string CodeName { get; private set; }

        /// <summary>A failure with the library's status code and message.</summary>
        public TenantSyncException(uint code, string message)
            : base(message)
        {
            Code = code;
            CodeName = Native.StatusName(code);
        }
    }

    /// <summary>Library-wide calls: loading, the version, and the calls that need no job.</summary>
    public static unsafe class Native
    {
        /// <summary>The name the generated bindings import (safer-ffi names it after the crate).</summary>
        public const string LibraryName = "tenantsync_ffi";

        private static string loadedFrom;

        /// <summary>
        /// Makes the bindings load the library from this absolute path. On .NET (PowerShell 7)
        /// it installs a DllImport resolver for this assembly; on runtimes without one (Mono)
        /// the library is found by the platform's search path and this only records the path.
        /// Calling it again with another path is refused: a process loads one library.
        /// </summary>
        public static void UseLibrary(string absolutePath)
        {
            if (absolutePath == null) throw new ArgumentNullException("absolutePath");
            if (loadedFrom != null)
            {
                if (string.Equals(loadedFrom, absolutePath, StringComparison.Ordinal)) return;
                throw new InvalidOperationException("the tenantsync library is already loaded from '" + loadedFrom
                    + "'; start a new PowerShell session to load '" + absolutePath + "'");
            }
            Type nativeLibrary = Type.GetType("System.Runtime.InteropServices.NativeLibrary", false);
            Type resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver", false);
            if (nativeLibrary != null && resolverType != null)
            {
                MethodInfo load = nativeLibrary.GetMethod("Load", new[] { typeof(string) });
                IntPtr handle = (IntPtr)load.Invoke(null, new object[] { absolutePath });
                var resolver = new Resolver(handle);
                Delegate callback = Delegate.CreateDelegate(resolverType, resolver,
                    typeof(Resolver).GetMethod("Resolve"));
                MethodInfo set = nativeLibrary.GetMethod("SetDllImportResolver");
                set.Invoke(null, new object[] { typeof(Ffi).Assembly, callback });
            }
            loadedFrom = absolutePath;
        }

        /// <summary>Where <see cref="UseLibrary"/> loaded the library from, or null.</summary>
        public static string LoadedFrom { get { return loadedFrom; } }

        private sealed class Resolver
        {
            private readonly IntPtr handle;

            public Resolver(IntPtr handle) { this.handle = handle; }

            public IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
            {
                return name == LibraryName ? handle : IntPtr.Zero;
            }
        }

        /// <summary>The library's version (the crate version it was built from).</summary>
        public static string Version()
        {
            return Utf8.Read(Ffi.tenantsync_version());
        }

        /// <summary>The library's sentence for a status code.</summary>
        public static string StatusMessage(uint code)
        {
            return Utf8.Read(Ffi.tenantsync_status_message(code));
        }

        /// <summary>A status code's name, as ffi/README.md spells it.</summary>
        public static string StatusName(uint code)
        {
            switch (code)
            {
                case 0: return "Ok";
                case 1: return "NullArgument";
                case 2: return "InvalidUtf8";
                case 3: return "InvalidJson";
                case 4: return "InvalidArgument";
                case 5: return "InvalidHandle";
                case 6: return "Busy";
                case 7: return "RunNotFinished";
                case 8: return "Expression";
                case 9: return "Io";
                case 100: return "Config";
                case 101: return "Invalid";
                case 102: return "Schema";
                case 103: return "Plugin";
                case 104: return "StalePlan";
                case 200: return "SignIn";
                case 201: return "WrongTenant";
                case 300: return "Graph";
                case 301: return "State";
                case 302: return "JobLocked";
                case 303: return "Plan";
                case 305: return "StateRemote";
                case 306: return "StateConflict";
                case 307: return "LeaseLost";
                case 900: return "Panic";
                case 901: return "Unknown";
                default: return "Status" + code;
            }
        }

        /// <summary>
        /// Validates a job configuration file (and the schema and plugins it names) without
        /// signing in; returns the library's JSON description of the job.
        /// </summary>
        public static string ValidateConfig(string path)
        {
            byte* output = null;
            using (var p = new Utf8(path))
            {
                Check((uint)Ffi.tenantsync_config_validate(p.Pointer, &output));
            }
            return Utf8.Take(output);
        }

        /// <summary>
        /// Evaluates an attribute-mapping expression; <paramref name="inputJson"/> is
        /// {"attributes": {...}, "now": TIME} (both optional). Returns {"value": V}, or
        /// {"flow": false} when the attribute does not flow.
        /// </summary>
        public static string EvaluateExpression(string expression, string inputJson)
        {
            byte* output = null;
            using (var e = new Utf8(expression))
            using (var i = new Utf8(inputJson ?? "{}"))
            {
                Check((uint)Ffi.tenantsync_expr_eval(e.Pointer, i.Pointer, &output));
            }
            return Utf8.Take(output);
        }

        /// <summary>
        /// Validates a mapping schema (Graph synchronizationSchema JSON); <paramref name="inputJson"/>
        /// is {"functions": [...]} (plugin functions besides the built-ins, optional). Returns
        /// {"valid": BOOL, "issues": [{"path", "severity", "message"}]}.
        /// </summary>
        public static string ValidateSchema(string schemaJson, string inputJson)
        {
            byte* output = null;
            using (var s = new Utf8(schemaJson))
            using (var i = new Utf8(inputJson ?? "{}"))
            {
                Check((uint)Ffi.tenantsync_schema_validate(s.Pointer, i.Pointer, &output));
            }
            return Utf8.Take(output);
        }

        /// <summary>Throws the library's error for a failed status; returns for 0.</summary>
        internal static void Check(uint status)
        {
            if (status == 0) return;
            string message = null;
            byte* last = null;
            if ((uint)Ffi.tenantsync_last_error_message(&last) == 0) message = Utf8.Take(last);
            if (string.IsNullOrEmpty(message)) message = StatusMessage(status);
            throw new TenantSyncException(status, message);
        }
    }

    /// <summary>An open job (a configuration and its state); dispose it to free the handle.</summary>
    public sealed unsafe partial class Job : IDisposable
    {
        private tenantsync_job_t* handle;
        private readonly object gate = new object();

        private Job(tenantsync_job_t* handle) { this.handle = handle; }

        /// <summary>Opens the job whose configuration file is at <paramref name="path"/>.</summary>
        public static Job Open(string path)
        {
            tenantsync_job_t* job = null;
            using (var p = new Utf8(path))
            {
                Native.Check((uint)Ffi.tenantsync_job_open(p.Pointer, &job));
            }
            return new Job(job);
        }

        /// <summary>The newest <paramref name="limit"/> runs of the job, as a JSON array.</summary>
        public string Runs(uint limit)
        {
            lock (gate)
            {
                byte* output = null;
                Native.Check((uint)Ffi.tenantsync_job_runs(Live(), limit, &output));
                return Utf8.Take(output);
            }
        }

        /// <summary>Provisioning log entries matching a JSON filter, newest first, as a JSON array.</summary>
        public string Logs(string filterJson)
        {
            lock (gate)
            {
                byte* output = null;
                using (var f = new Utf8(filterJson ?? "{}"))
                {
                    Native.Check((uint)Ffi.tenantsync_job_logs(Live(), f.Pointer, &output));
                }
                return Utf8.Take(output);
            }
        }

        /// <summary>Clears part of the job's state; returns what was cleared, as JSON.</summary>
        public string Reset(string scope)
        {
            lock (gate)
            {
                byte* output = null;
                using (var s = new Utf8(scope))
                {
                    Native.Check((uint)Ffi.tenantsync_job_reset(Live(), s.Pointer, &output));
                }
                return Utf8.Take(output);
            }
        }

        private tenantsync_job_t* Live()
        {
            if (handle == null) throw new ObjectDisposedException("Job", "the job was closed; open it again");
            return handle;
        }

        /// <summary>Frees the handle; safe to call twice.</summary>
        public void Dispose()
        {
            lock (gate)
            {
                // BUSY (6): a run still holds the job; keep the handle so a later Dispose frees it.
                if (handle != null && (uint)Ffi.tenantsync_job_free(handle) != 6) handle = null;
            }
            GC.SuppressFinalize(this);
        }

        /// <summary>Frees a handle the caller forgot to dispose.</summary>
        ~Job()
        {
            if (handle != null) Ffi.tenantsync_job_free(handle);
        }
    }

    /// <summary>A string passed to the library: UTF-8, NUL-terminated, pinned while in use.</summary>
    internal sealed unsafe class Utf8 : IDisposable
    {
        private GCHandle pin;

        public Utf8(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            if (text.IndexOf('\0') >= 0) throw new ArgumentException("the text contains a NUL character; remove it");
            byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            pin = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        }

        public byte* Pointer { get { return (byte*)pin.AddrOfPinnedObject(); } }

        public void Dispose()
        {
            if (pin.IsAllocated) pin.Free();
        }

        /// <summary>Copies a NUL-terminated UTF-8 string the library owns (null for NULL).</summary>
        public static string Read(byte* text)
        {
            if (text == null) return null;
            int length = 0;
            while (text[length] != 0) length++;
            return Encoding.UTF8.GetString(text, length);
        }

        /// <summary>Copies a string the library gave the caller, then frees it with the library's free.</summary>
        public static string Take(byte* text)
        {
            if (text == null) return null;
            try { return Read(text); }
            finally { Ffi.tenantsync_string_free(text); }
        }
    }

    /// <summary>
    /// Just enough JSON reading to take a member's text out of the library's JSON unaltered (a
    /// saved plan must reach its file exactly as the engine wrote it). Everything else is parsed
    /// by the host (ConvertFrom-Json).
    /// </summary>
    public static class JsonText
    {
        /// <summary>
        /// The raw text of the member reached by following <paramref name="path"/> through nested
        /// objects (keys compared ignoring case), or null when there is none.
        /// </summary>
        public static string Member(string json, params string[] path)
        {
            if (json == null || path == null) return null;
            int start = 0;
            int end = json.Length;
            foreach (string key in path)
            {
                int i = SkipSpace(json, start);
                if (i >= end || json[i] != '{') return null;
                i++;
                bool found = false;
                while (true)
                {
                    i = SkipSpace(json, i);
                    if (i >= end || json[i] == '}') return null;
                    int keyEnd = ValueEnd(json, i);
                    if (keyEnd < 0 || json[i] != '"') return null;
                    string name = json.Substring(i + 1, keyEnd - i - 2);
                    i = SkipSpace(json, keyEnd);
                    if (i >= end || json[i] != ':') return null;
                    i = SkipSpace(json, i + 1);
                    int valueEnd = ValueEnd(json, i);
                    if (valueEnd < 0) return null;
                    if (string.Equals(name, key, StringComparison.OrdinalIgnoreCase))
                    {
                        start = i;
                        end = valueEnd;
                        found = true;
                        break;
                    }
                    i = SkipSpace(json, valueEnd);
                    if (i < end && json[i] == ',') i++;
                }
                if (!found) return null;
            }
            return json.Substring(start, end - start);
        }

        /// <summary>True when the top-level object of <paramref name="json"/> has "key": true.</summary>
        public static bool HasTrue(string json, string key)
        {
            return Member(json, key) == "true";
        }

        private static int SkipSpace(string json, int i)
        {
            while (i < json.Length && char.IsWhiteSpace(json[i])) i++;
            return i;
        }

        /// <summary>The index just past the JSON value starting at <paramref name="i"/>, or -1.</summary>
        private static int ValueEnd(string json, int i)
        {
            if (i >= json.Length) return -1;
            char c = json[i];
            if (c == '"')
            {
                for (int j = i + 1; j < json.Length; j++)
                {
                    if (json[j] == '\\') j++;
                    else if (json[j] == '"') return j + 1;
                }
                return -1;
            }
            if (c == '{' || c == '[')
            {
                int depth = 0;
                for (int j = i; j < json.Length; j++)
                {
                    char d = json[j];
                    if (d == '"')
                    {
                        int k = ValueEnd(json, j);
                        if (k < 0) return -1;
                        j = k - 1;
                    }
                    else if (d == '{' || d == '[') depth++;
                    else if (d == '}' || d == ']')
                    {
                        depth--;
                        if (depth == 0) return j + 1;
                    }
                }
                return -1;
            }
            int e = i;
            while (e < json.Length && json[e] != ',' && json[e] != '}' && json[e] != ']' && !char.IsWhiteSpace(json[e])) e++;
            return e > i ? e : -1;
        }
    }
}
