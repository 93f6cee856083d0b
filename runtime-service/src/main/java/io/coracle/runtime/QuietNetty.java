package io.coracle.runtime;

import java.util.List;
import java.util.logging.Filter;
import java.util.logging.Logger;

/**
 * Drops Netty's "Unknown channel option 'SO_KEEPALIVE'" warning: gRPC sets that option on every
 * channel, and a unix socket has none, so the daemon and every client command would print it on
 * each connection. Every other bootstrap message passes.
 */
final class QuietNetty {
    /** Held strongly: java.util.logging keeps loggers only weakly, with their filters. */
    private static final List<Logger> LOGGERS = List.of(Logger.getLogger("io.netty.bootstrap.Bootstrap"),
            Logger.getLogger("io.netty.bootstrap.ServerBootstrap"));

    private QuietNetty() {
    }

    static void install() {
        Filter filter = r -> r.getMessage() == null || !r.getMessage().startsWith("Unknown channel option 'SO_KEEPALIVE'");
        for (Logger logger : LOGGERS) {
            logger.setFilter(filter);
        }
    }
}
