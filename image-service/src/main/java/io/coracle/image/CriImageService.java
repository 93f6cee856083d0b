package io.coracle.image;

import io.coracle.cri.v1.ImageServiceGrpc;

/**
 * The CRI ImageService endpoint. No RPC is built yet: every call falls through to the
 * generated base, which answers UNIMPLEMENTED naming the method.
 */
public final class CriImageService extends ImageServiceGrpc.ImageServiceImplBase {
}
