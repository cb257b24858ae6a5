// Our own declarations of the subset of the cuDNN 9 C API this backend calls.
// cuDNN is not linked: libcudnn.so.9 is opened at run time (cudnn_loader.h) and every function
// below is resolved with dlsym into a CudnnApi table. Values and prototypes follow
// /work/shared/design/cudnn-api.md (checked there against the 9.6 headers and a 9.24 wrapper);
// check_decls.cc static_asserts them against the real cudnn.h on a machine that has it.
//
// Scoped enums with our own names so this header can be included next to the real cudnn.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace inception::cudnn {

// cudnnStatus_t (9.x: category-coded, category = code / 1000 * 1000).
enum class Status : int {
  kSuccess = 0,
  kNotInitialized = 1001,
  kSublibraryVersionMismatch = 1002,
  kSublibraryLoadingFailed = 1008,
  kBadParam = 2000,
  kNotSupported = 3000,
  kInternalError = 4000,
  kExecutionFailed = 5000,
};
inline int StatusCategory(Status s) { return static_cast<int>(s) / 1000 * 1000; }

enum class DataType : int { kFloat = 0, kDouble = 1, kHalf = 2 };
enum class TensorFormat : int { kNchw = 0, kNhwc = 1 };
enum class ConvolutionMode : int { kConvolution = 0, kCrossCorrelation = 1 };
enum class ConvFwdAlgo : int {
  kImplicitGemm = 0,
  kImplicitPrecompGemm = 1,
  kGemm = 2,
  kDirect = 3,
  kFft = 4,
  kFftTiling = 5,
  kWinograd = 6,
  kWinogradNonfused = 7,
  kCount = 8,
};
enum class MathType : int { kDefault = 0, kTensorOp = 1, kTensorOpAllowConversion = 2, kFma = 3 };
enum class ActivationMode : int { kSigmoid = 0, kRelu = 1, kTanh = 2, kClippedRelu = 3, kElu = 4, kIdentity = 5 };
enum class NanPropagation : int { kNotPropagate = 0, kPropagate = 1 };
enum class PoolingMode : int { kMax = 0, kAverageCountIncludePadding = 1, kAverageCountExcludePadding = 2, kMaxDeterministic = 3 };
enum class Determinism : int { kNonDeterministic = 0, kDeterministic = 1 };

// Backend (graph) API: cudnn_graph.h, /work/shared/design/cudnn-api.md section 6. Only the values
// graph_conv.cc uses; every one is static_asserted in check_decls.cc.
using BackendDescriptor = void*;  // cudnnBackendDescriptor_t
enum class BackendDescriptorType : int {
  kPointwise = 0,
  kConvolution = 1,
  kEngine = 2,
  kEngineCfg = 3,
  kEngineHeur = 4,
  kExecutionPlan = 5,
  kOperationConvolutionForward = 10,
  kOperationPointwise = 13,
  kOperationGraph = 15,
  kVariantPack = 16,
  kTensor = 17,
};
enum class BackendAttributeName : int {
  kPointwiseMode = 0,
  kPointwiseMathPrec = 1,
  kConvolutionCompType = 100,
  kConvolutionConvMode = 101,
  kConvolutionDilations = 102,
  kConvolutionFilterStrides = 103,
  kConvolutionPostPaddings = 104,
  kConvolutionPrePaddings = 105,
  kConvolutionSpatialDims = 106,
  kEngineHeurMode = 200,
  kEngineHeurOperationGraph = 201,
  kEngineHeurResults = 202,
  kEngineCfgEngine = 300,
  kExecutionPlanHandle = 400,
  kExecutionPlanEngineConfig = 401,
  kExecutionPlanWorkspaceSize = 402,
  kOperationConvolutionForwardAlpha = 700,
  kOperationConvolutionForwardBeta = 701,
  kOperationConvolutionForwardConvDesc = 702,
  kOperationConvolutionForwardW = 703,
  kOperationConvolutionForwardX = 704,
  kOperationConvolutionForwardY = 705,
  kOperationPointwisePwDescriptor = 750,
  kOperationPointwiseXDesc = 751,
  kOperationPointwiseBDesc = 752,
  kOperationPointwiseYDesc = 753,
  kOperationGraphHandle = 800,
  kOperationGraphOps = 801,
  kTensorByteAlignment = 900,
  kTensorDataType = 901,
  kTensorDimensions = 902,
  kTensorStrides = 903,
  kTensorUniqueId = 906,
  kTensorIsVirtual = 907,
  kVariantPackUniqueIds = 1000,
  kVariantPackDataPointers = 1001,
  kVariantPackWorkspace = 1003,
  kEngineGlobalIndex = 1301,
  kEngineNumericalNote = 1303,
  kEngineBehaviorNote = 1305,
};
// The element type an attribute is set/read as (cudnnBackendAttributeType_t).
enum class BackendAttributeType : int {
  kHandle = 0,
  kDataType = 1,
  kBoolean = 2,  // C bool (1 byte)
  kInt64 = 3,
  kFloat = 4,
  kDouble = 5,
  kVoidPtr = 6,
  kConvolutionMode = 7,
  kHeurMode = 8,
  kNumericalNote = 11,
  kPointwiseMode = 14,
  kBackendDescriptor = 15,
  kBehaviorNote = 19,
};
enum class PointwiseMode : int { kAdd = 0, kMul = 1, kIdentity = 21, kReluFwd = 100 };
enum class HeurMode : int { kInstant = 0, kB = 1, kFallback = 2, kA = 3 };
// cudnnBackendNumericalNote_t: what an engine does to the numbers (read per engine to filter).
enum class NumericalNote : int {
  kTensorCore = 0,
  kDownConvertInputs = 1,
  kReducedPrecisionReduction = 2,
  kFft = 3,
  kNondeterministic = 4,
  kWinograd = 5,
};
enum class BehaviorNote : int { kRuntimeCompilation = 0, kSupportsCudaGraphNativeApi = 3 };

struct cudnnContext;
struct cudnnTensorStruct;
struct cudnnFilterStruct;
struct cudnnConvolutionStruct;
struct cudnnActivationStruct;
struct cudnnPoolingStruct;
using Handle = cudnnContext*;
using TensorDescriptor = cudnnTensorStruct*;
using FilterDescriptor = cudnnFilterStruct*;
using ConvolutionDescriptor = cudnnConvolutionStruct*;
using ActivationDescriptor = cudnnActivationStruct*;
using PoolingDescriptor = cudnnPoolingStruct*;

// cudnnConvolutionFwdAlgoPerf_t: same fields and order in 8.x and 9.x.
struct ConvFwdAlgoPerf {
  ConvFwdAlgo algo;
  Status status;
  float time;  // milliseconds
  size_t memory;  // workspace bytes
  Determinism determinism;
  MathType mathType;
  int reserved[3];
};
static_assert(sizeof(ConvFwdAlgoPerf) == 48, "cudnnConvolutionFwdAlgoPerf_t is 48 bytes on LP64");
static_assert(offsetof(ConvFwdAlgoPerf, memory) == 16, "perf.memory at offset 16");
static_assert(offsetof(ConvFwdAlgoPerf, mathType) == 28, "perf.mathType at offset 28");

// Function pointer types, one per entry point (argument order as in cudnn-api.md §3).
using GetVersionFn = size_t (*)();
using GetCudartVersionFn = size_t (*)();
using GetErrorStringFn = const char* (*)(Status);
using GetLastErrorStringFn = void (*)(char* message, size_t max_size);
using CreateFn = Status (*)(Handle*);
using DestroyFn = Status (*)(Handle);
using SetStreamFn = Status (*)(Handle, cudaStream_t);
using CreateTensorDescriptorFn = Status (*)(TensorDescriptor*);
using DestroyTensorDescriptorFn = Status (*)(TensorDescriptor);
// NB: no format argument; the layout is whatever the strides say.
using SetTensor4dDescriptorExFn = Status (*)(TensorDescriptor, DataType, int n, int c, int h, int w, int nStride,
                                             int cStride, int hStride, int wStride);
using CreateFilterDescriptorFn = Status (*)(FilterDescriptor*);
using DestroyFilterDescriptorFn = Status (*)(FilterDescriptor);
// NB: dataType BEFORE format (the opposite of cudnnSetTensor4dDescriptor).
using SetFilter4dDescriptorFn = Status (*)(FilterDescriptor, DataType, TensorFormat, int k, int c, int h, int w);
using CreateConvolutionDescriptorFn = Status (*)(ConvolutionDescriptor*);
using DestroyConvolutionDescriptorFn = Status (*)(ConvolutionDescriptor);
using SetConvolution2dDescriptorFn = Status (*)(ConvolutionDescriptor, int pad_h, int pad_w, int u, int v,
                                                int dilation_h, int dilation_w, ConvolutionMode, DataType computeType);
using SetConvolutionMathTypeFn = Status (*)(ConvolutionDescriptor, MathType);
using GetConvolutionForwardAlgorithmMaxCountFn = Status (*)(Handle, int*);
using GetConvolutionForwardAlgorithmV7Fn = Status (*)(Handle, TensorDescriptor, FilterDescriptor,
                                                      ConvolutionDescriptor, TensorDescriptor, int requested,
                                                      int* returned, ConvFwdAlgoPerf*);
using FindConvolutionForwardAlgorithmExFn = Status (*)(Handle, TensorDescriptor, const void* x, FilterDescriptor,
                                                       const void* w, ConvolutionDescriptor, TensorDescriptor,
                                                       void* y, int requested, int* returned, ConvFwdAlgoPerf*,
                                                       void* workspace, size_t workspace_bytes);
using GetConvolutionForwardWorkspaceSizeFn = Status (*)(Handle, TensorDescriptor, FilterDescriptor,
                                                        ConvolutionDescriptor, TensorDescriptor, ConvFwdAlgo,
                                                        size_t*);
using ConvolutionForwardFn = Status (*)(Handle, const void* alpha, TensorDescriptor, const void* x,
                                        FilterDescriptor, const void* w, ConvolutionDescriptor, ConvFwdAlgo,
                                        void* workspace, size_t workspace_bytes, const void* beta,
                                        TensorDescriptor, void* y);
// y = act(alpha1 * conv(x, w) + alpha2 * z + bias); the bias is NOT scaled by alpha1.
using ConvolutionBiasActivationForwardFn = Status (*)(Handle, const void* alpha1, TensorDescriptor, const void* x,
                                                      FilterDescriptor, const void* w, ConvolutionDescriptor,
                                                      ConvFwdAlgo, void* workspace, size_t workspace_bytes,
                                                      const void* alpha2, TensorDescriptor zDesc, const void* z,
                                                      TensorDescriptor biasDesc, const void* bias,
                                                      ActivationDescriptor, TensorDescriptor yDesc, void* y);
using CreateActivationDescriptorFn = Status (*)(ActivationDescriptor*);
using DestroyActivationDescriptorFn = Status (*)(ActivationDescriptor);
using SetActivationDescriptorFn = Status (*)(ActivationDescriptor, ActivationMode, NanPropagation, double coef);
using CreatePoolingDescriptorFn = Status (*)(PoolingDescriptor*);
using DestroyPoolingDescriptorFn = Status (*)(PoolingDescriptor);
using SetPooling2dDescriptorFn = Status (*)(PoolingDescriptor, PoolingMode, NanPropagation, int windowHeight,
                                            int windowWidth, int verticalPadding, int horizontalPadding,
                                            int verticalStride, int horizontalStride);
using PoolingForwardFn = Status (*)(Handle, PoolingDescriptor, const void* alpha, TensorDescriptor, const void* x,
                                    const void* beta, TensorDescriptor, void* y);

// Backend (graph) API entry points (cudnn_graph.h; in libcudnn.so.9 since 9.0).
using BackendCreateDescriptorFn = Status (*)(BackendDescriptorType, BackendDescriptor*);
using BackendDestroyDescriptorFn = Status (*)(BackendDescriptor);
using BackendFinalizeFn = Status (*)(BackendDescriptor);
using BackendSetAttributeFn = Status (*)(BackendDescriptor, BackendAttributeName, BackendAttributeType,
                                         int64_t elementCount, const void* elements);
using BackendGetAttributeFn = Status (*)(BackendDescriptor, BackendAttributeName, BackendAttributeType,
                                         int64_t requestedElementCount, int64_t* elementCount, void* elements);
using BackendExecuteFn = Status (*)(Handle, BackendDescriptor executionPlan, BackendDescriptor variantPack);

// X(member, symbol, type): every entry point we resolve. All are required except those in
// CUDNN_OPTIONAL_FUNCTIONS.
#define CUDNN_REQUIRED_FUNCTIONS(X)                                                              \
  X(GetVersion, cudnnGetVersion, GetVersionFn)                                                   \
  X(GetCudartVersion, cudnnGetCudartVersion, GetCudartVersionFn)                                 \
  X(GetErrorString, cudnnGetErrorString, GetErrorStringFn)                                       \
  X(Create, cudnnCreate, CreateFn)                                                               \
  X(Destroy, cudnnDestroy, DestroyFn)                                                            \
  X(SetStream, cudnnSetStream, SetStreamFn)                                                      \
  X(CreateTensorDescriptor, cudnnCreateTensorDescriptor, CreateTensorDescriptorFn)               \
  X(DestroyTensorDescriptor, cudnnDestroyTensorDescriptor, DestroyTensorDescriptorFn)            \
  X(SetTensor4dDescriptorEx, cudnnSetTensor4dDescriptorEx, SetTensor4dDescriptorExFn)            \
  X(CreateFilterDescriptor, cudnnCreateFilterDescriptor, CreateFilterDescriptorFn)               \
  X(DestroyFilterDescriptor, cudnnDestroyFilterDescriptor, DestroyFilterDescriptorFn)            \
  X(SetFilter4dDescriptor, cudnnSetFilter4dDescriptor, SetFilter4dDescriptorFn)                  \
  X(CreateConvolutionDescriptor, cudnnCreateConvolutionDescriptor, CreateConvolutionDescriptorFn) \
  X(DestroyConvolutionDescriptor, cudnnDestroyConvolutionDescriptor, DestroyConvolutionDescriptorFn) \
  X(SetConvolution2dDescriptor, cudnnSetConvolution2dDescriptor, SetConvolution2dDescriptorFn)   \
  X(SetConvolutionMathType, cudnnSetConvolutionMathType, SetConvolutionMathTypeFn)               \
  X(GetConvolutionForwardAlgorithmMaxCount, cudnnGetConvolutionForwardAlgorithmMaxCount,         \
    GetConvolutionForwardAlgorithmMaxCountFn)                                                    \
  X(GetConvolutionForwardAlgorithmV7, cudnnGetConvolutionForwardAlgorithm_v7,                    \
    GetConvolutionForwardAlgorithmV7Fn)                                                          \
  X(FindConvolutionForwardAlgorithmEx, cudnnFindConvolutionForwardAlgorithmEx,                   \
    FindConvolutionForwardAlgorithmExFn)                                                         \
  X(GetConvolutionForwardWorkspaceSize, cudnnGetConvolutionForwardWorkspaceSize,                 \
    GetConvolutionForwardWorkspaceSizeFn)                                                        \
  X(ConvolutionForward, cudnnConvolutionForward, ConvolutionForwardFn)                           \
  X(ConvolutionBiasActivationForward, cudnnConvolutionBiasActivationForward,                     \
    ConvolutionBiasActivationForwardFn)                                                          \
  X(CreateActivationDescriptor, cudnnCreateActivationDescriptor, CreateActivationDescriptorFn)   \
  X(DestroyActivationDescriptor, cudnnDestroyActivationDescriptor, DestroyActivationDescriptorFn) \
  X(SetActivationDescriptor, cudnnSetActivationDescriptor, SetActivationDescriptorFn)            \
  X(CreatePoolingDescriptor, cudnnCreatePoolingDescriptor, CreatePoolingDescriptorFn)            \
  X(DestroyPoolingDescriptor, cudnnDestroyPoolingDescriptor, DestroyPoolingDescriptorFn)         \
  X(SetPooling2dDescriptor, cudnnSetPooling2dDescriptor, SetPooling2dDescriptorFn)               \
  X(PoolingForward, cudnnPoolingForward, PoolingForwardFn)                                       \
  X(BackendCreateDescriptor, cudnnBackendCreateDescriptor, BackendCreateDescriptorFn)           \
  X(BackendDestroyDescriptor, cudnnBackendDestroyDescriptor, BackendDestroyDescriptorFn)        \
  X(BackendFinalize, cudnnBackendFinalize, BackendFinalizeFn)                                   \
  X(BackendSetAttribute, cudnnBackendSetAttribute, BackendSetAttributeFn)                       \
  X(BackendGetAttribute, cudnnBackendGetAttribute, BackendGetAttributeFn)                       \
  X(BackendExecute, cudnnBackendExecute, BackendExecuteFn)

#define CUDNN_OPTIONAL_FUNCTIONS(X) X(GetLastErrorString, cudnnGetLastErrorString, GetLastErrorStringFn)

// The resolved entry points of one loaded libcudnn.so.9.
struct Api {
#define INCEPTION_CUDNN_MEMBER(member, symbol, type) type member = nullptr;
  CUDNN_REQUIRED_FUNCTIONS(INCEPTION_CUDNN_MEMBER)
  CUDNN_OPTIONAL_FUNCTIONS(INCEPTION_CUDNN_MEMBER)
#undef INCEPTION_CUDNN_MEMBER
};

// "CUDNN_STATUS_NOT_SUPPORTED_SHAPE" etc. for the 9.x codes; "CUDNN_STATUS_<code>" for others.
const char* StatusName(Status s);

}  // namespace inception::cudnn
