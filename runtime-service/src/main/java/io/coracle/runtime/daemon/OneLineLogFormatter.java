package io.coracle.runtime.daemon;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Formats each log event as one line: time, level, component, message (stack traces indented below). */
public final class OneLineLogFormatter extends Formatter {
    /** Held so JUL, which keeps loggers weakly, cannot drop the levels set on them. */
    private static final Logger GRPC = Logger.getLogger("io.grpc");
    private static final Logger NETTY = Logger.getLogger("io.netty");

    @Override
    public String format(LogRecord record) {
        StringBuilder line = new StringBuilder(160);
        line.append(Instant.ofEpochMilli(record.getMillis())).append(' ')
                .append(levelName(record.getLevel())).append(' ')
                .append(shortName(record.getLoggerName())).append(": ")
                .append(formatMessage(record)).append('\n');
        if (record.getThrown() != null) {
            StringWriter trace = new StringWriter();
            record.getThrown().printStackTrace(new PrintWriter(trace));
            line.append(trace.toString().indent(4));
        }
        return line.toString();
    }

    private static String levelName(Level level) {
        int v = level.intValue();
        if (v >= Level.SEVERE.intValue()) {
            return "ERROR";
        }
        if (v >= Level.WARNING.intValue()) {
            return "WARN ";
        }
        if (v >= Level.INFO.intValue()) {
            return "INFO ";
        }
        return "DEBUG";
    }

    private static String shortName(String logger) {
        if (logger == null) {
            return "-";
        }
        int dot = logger.lastIndexOf('.');
        return dot < 0 ? logger : logger.substring(dot + 1);
    }

    /** Sends every log line to stderr at the level named by the config (debug, info, warn, error). */
    public static void install(String level) {
        Level julLevel = switch (level) {
            case "debug" -> Level.FINE;
            case "warn" -> Level.WARNING;
            case "error" -> Level.SEVERE;
            default -> Level.INFO;
        };
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        Handler handler = new ConsoleHandler();
        handler.setFormatter(new OneLineLogFormatter());
        handler.setLevel(julLevel);
        root.addHandler(handler);
        root.setLevel(julLevel);
        // gRPC and Netty are chatty at FINE; keep them at INFO unless something is wrong.
        GRPC.setLevel(julLevel.intValue() < Level.INFO.intValue() ? Level.INFO : julLevel);
        NETTY.setLevel(julLevel.intValue() < Level.INFO.intValue() ? Level.INFO : julLevel);
    }
}
