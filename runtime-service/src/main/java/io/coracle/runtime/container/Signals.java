package io.coracle.runtime.container;

import java.util.Locale;
import java.util.Map;

/** Linux signal names and numbers, for stop signals from the CRI config or the image. */
public final class Signals {
    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;

    private static final Map<String, Integer> NUMBERS = Map.ofEntries(
            Map.entry("SIGHUP", 1), Map.entry("SIGINT", 2), Map.entry("SIGQUIT", 3), Map.entry("SIGILL", 4),
            Map.entry("SIGTRAP", 5), Map.entry("SIGABRT", 6), Map.entry("SIGIOT", 6), Map.entry("SIGBUS", 7),
            Map.entry("SIGFPE", 8), Map.entry("SIGKILL", 9), Map.entry("SIGUSR1", 10), Map.entry("SIGSEGV", 11),
            Map.entry("SIGUSR2", 12), Map.entry("SIGPIPE", 13), Map.entry("SIGALRM", 14), Map.entry("SIGTERM", 15),
            Map.entry("SIGSTKFLT", 16), Map.entry("SIGCHLD", 17), Map.entry("SIGCONT", 18), Map.entry("SIGSTOP", 19),
            Map.entry("SIGTSTP", 20), Map.entry("SIGTTIN", 21), Map.entry("SIGTTOU", 22), Map.entry("SIGURG", 23),
            Map.entry("SIGXCPU", 24), Map.entry("SIGXFSZ", 25), Map.entry("SIGVTALRM", 26), Map.entry("SIGPROF", 27),
            Map.entry("SIGWINCH", 28), Map.entry("SIGIO", 29), Map.entry("SIGPOLL", 29), Map.entry("SIGPWR", 30),
            Map.entry("SIGSYS", 31), Map.entry("SIGRTMIN", 34), Map.entry("SIGRTMAX", 64));

    private Signals() {
    }

    /** "SIGTERM", "TERM", "15" or "SIGRTMIN+3" → the number; -1 when it is no signal. */
    public static int parse(String name) {
        if (name == null || name.isBlank()) {
            return -1;
        }
        String s = name.trim().toUpperCase(Locale.ROOT);
        if (s.chars().allMatch(Character::isDigit)) {
            int n = Integer.parseInt(s);
            return n >= 1 && n <= 64 ? n : -1;
        }
        if (!s.startsWith("SIG")) {
            s = "SIG" + s;
        }
        int plus = s.indexOf('+');
        if (plus > 0 && s.startsWith("SIGRTMIN")) {
            try {
                int n = 34 + Integer.parseInt(s.substring(plus + 1));
                return n <= 64 ? n : -1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }
        return NUMBERS.getOrDefault(s, -1);
    }
}
