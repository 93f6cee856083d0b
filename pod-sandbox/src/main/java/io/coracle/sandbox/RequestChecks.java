package io.coracle.sandbox;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Field checks shared by the CRI request validators, with the bounds Coracle accepts. Names may
 * become file and cgroup names or parts of them, so they are bounded and may not hold '/', NUL,
 * or be '.' or '..'. The bounds are generous for what the kubelet sends: pod names are DNS
 * subdomains (253), namespaces and container names DNS labels (63), uids UUIDs (36).
 */
public final class RequestChecks {
    /** Names (pod, namespace, uid, container): NAME_MAX is 255, and the kubelet sends at most 253. */
    public static final int NAME_MAX = 253;
    /** Ids and id prefixes: ours are 64 hex digits. */
    public static final int ID_MAX = 128;
    /** PATH_MAX less the NUL. */
    public static final int PATH_MAX = 4095;
    /** Labels or annotations of one object, keys plus values (Kubernetes allows 256 KiB of annotations). */
    public static final int MAP_BYTES_MAX = 512 * 1024;
    /** One argument or environment entry: the kernel's MAX_ARG_STRLEN (32 pages) less the NUL. */
    public static final int ARG_MAX = 32 * 4096 - 1;
    /** A whole command line plus environment: execve fails past a quarter of the stack limit (2 MiB by default). */
    public static final int ARGS_TOTAL_MAX = 1024 * 1024;

    private RequestChecks() {
    }

    public static InvalidRequestException invalid(String field, String reason) {
        return new InvalidRequestException(field, reason);
    }

    public static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** A short rendering of a value for a message: never the whole of a huge one. */
    public static String show(String s) {
        String t = s.length() > 64 ? s.substring(0, 64) + "...(" + bytes(s) + " bytes)" : s;
        return "'" + t.replaceAll("\\p{Cntrl}", "?") + "'";
    }

    public static void notEmpty(String field, String value) {
        if (value.isEmpty()) {
            throw invalid(field, "empty");
        }
    }

    public static void maxBytes(String field, String value, int max) {
        int n = bytes(value);
        if (n > max) {
            throw invalid(field, n + " bytes, more than the " + max + " allowed");
        }
    }

    /** A name that may become (part of) a file or cgroup name. */
    public static void name(String field, String value) {
        notEmpty(field, value);
        maxBytes(field, value, NAME_MAX);
        if (value.equals(".") || value.equals("..") || value.indexOf('/') >= 0 || value.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw invalid(field, show(value) + " is not usable as a file name ('/', '.', '..' and control characters are refused)");
        }
    }

    /** An object id or unique id prefix. */
    public static void id(String field, String value) {
        notEmpty(field, value);
        maxBytes(field, value, ID_MAX);
    }

    /** An absolute path without '..' components or NUL. */
    public static void absolutePath(String field, String value) {
        path(field, value);
        if (!value.startsWith("/")) {
            throw invalid(field, show(value) + " is not an absolute path");
        }
    }

    /** A path relative to a directory that it may not leave: not absolute, no '..' component. */
    public static void relativePath(String field, String value) {
        path(field, value);
        if (value.startsWith("/")) {
            throw invalid(field, show(value) + " must be relative");
        }
    }

    private static void path(String field, String value) {
        notEmpty(field, value);
        maxBytes(field, value, PATH_MAX);
        if (value.indexOf('\0') >= 0) {
            throw invalid(field, "contains NUL");
        }
        for (String part : value.split("/")) {
            if (part.equals("..")) {
                throw invalid(field, show(value) + " contains '..'");
            }
        }
    }

    /** Labels or annotations: non-empty keys, bounded in total. */
    public static void stringMap(String field, Map<String, String> map) {
        long total = 0;
        for (var e : map.entrySet()) {
            if (e.getKey().isEmpty()) {
                throw invalid(field, "a key is empty");
            }
            total += bytes(e.getKey()) + bytes(e.getValue());
        }
        if (total > MAP_BYTES_MAX) {
            throw invalid(field, total + " bytes of keys and values, more than the " + MAP_BYTES_MAX + " allowed");
        }
    }

    /** Arguments passed to execve, each checked by {@link #arg}; returns their size. */
    public static long argv(String field, java.util.List<String> args) {
        long total = 0;
        for (int i = 0; i < args.size(); i++) {
            total += arg(field + "[" + i + "]", args.get(i));
        }
        return total;
    }

    /** One execve argument or environment entry: within MAX_ARG_STRLEN, no NUL; returns its size with the NUL. */
    public static long arg(String field, String a) {
        maxBytes(field, a, ARG_MAX);
        if (a.indexOf('\0') >= 0) {
            throw invalid(field, "contains NUL");
        }
        return bytes(a) + 1;
    }

    public static void argsTotal(String field, long total) {
        if (total > ARGS_TOTAL_MAX) {
            throw invalid(field, total + " bytes of arguments and environment, more than the " + ARGS_TOTAL_MAX + " allowed");
        }
    }
}
