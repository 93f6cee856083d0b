package io.coracle.runtime.streaming;

import java.time.Duration;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * An exec or attach over SPDY: waits for the client to open the streams the request asked for
 * (error first, then stdin, stdout, stderr, resize, each named by its streamType header), then
 * runs the session. A client that has not opened them all in time is disconnected.
 */
final class SpdyRemoteCommand implements SpdyConnection.Acceptor {
    private static final Logger LOG = Logger.getLogger(SpdyRemoteCommand.class.getName());

    enum Kind { ERROR, STDIN, STDOUT, STDERR, RESIZE }

    private final RemoteCommandProtocol protocol;
    private final Set<Kind> expected = EnumSet.of(Kind.ERROR);
    private final Map<Kind, SpdyConnection.Stream> streams = new EnumMap<>(Kind.class);
    private final Supplier<StreamedCommand> command;
    private final String what;
    private final Duration creationTimeout;
    private SpdyConnection connection;
    private ScheduledFuture<?> timeout;
    private RemoteCommandSession session;

    SpdyRemoteCommand(RemoteCommandProtocol protocol, boolean stdin, boolean stdout, boolean stderr, boolean tty,
                      Supplier<StreamedCommand> command, String what, Duration creationTimeout) {
        this.protocol = protocol;
        this.command = command;
        this.what = what;
        this.creationTimeout = creationTimeout;
        if (stdin) {
            expected.add(Kind.STDIN);
        }
        if (stdout) {
            expected.add(Kind.STDOUT);
        }
        if (stderr && !tty) {
            expected.add(Kind.STDERR);
        }
        if (tty && protocol.resizes()) {
            expected.add(Kind.RESIZE);
        }
    }

    void bind(SpdyConnection c) {
        connection = c;
        timeout = c.channel().eventLoop().schedule(() -> {
            if (session == null) {
                LOG.warning(what + ": the client opened " + streams.keySet() + " of " + expected + " streams in "
                        + creationTimeout.toSeconds() + "s; disconnecting");
                c.channel().close();
            }
        }, creationTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void opened(SpdyConnection.Stream stream) {
        String type = stream.header("streamtype");
        Kind kind;
        try {
            kind = Kind.valueOf(type.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            kind = null;
        }
        if (kind == null || !expected.contains(kind) || streams.containsKey(kind) || session != null) {
            LOG.info(what + ": refusing a stream of type '" + type + "' (expected " + expected + ")");
            stream.reset();
            return;
        }
        streams.put(kind, stream);
        if (streams.keySet().equals(expected)) {
            timeout.cancel(false);
            session = new RemoteCommandSession(command.get(), new RemoteCommandSession.Streams(
                    streams.get(Kind.STDOUT), streams.get(Kind.STDERR), streams.get(Kind.ERROR),
                    protocol.jsonStatus(), connection::close), what);
            for (Map.Entry<Kind, SpdyConnection.Stream> e : streams.entrySet()) {
                e.getValue().listen(switch (e.getKey()) {
                    case STDIN -> session.stdinListener();
                    case RESIZE -> session.resizeListener();
                    default -> InboundListener.DISCARD;
                });
            }
            session.start();
        }
    }

    @Override
    public void closed() {
        if (timeout != null) {
            timeout.cancel(false);
        }
        if (session != null) {
            session.clientGone();
        }
    }
}
