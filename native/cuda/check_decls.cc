// Compile-time check of our cuDNN declarations (cudnn_api.h) against the real cudnn.h.
// Not part of the module: bench/gpu/run.sh compiles it on the GPU machine, where the
// nvidia-cudnn wheel ships its headers (nvidia/cudnn/include). Compiling is the test:
//   g++ -std=c++17 -fsyntax-only -I<wheel>/nvidia/cudnn/include -I<cuda>/include -Inative native/cuda/check_decls.cc
// Every enum value we use, the perf struct layout, and the exact type of every function we
// resolve with dlsym (argument order included) must match, or this fails to compile.
#include <cudnn.h>

#include <cstddef>
#include <type_traits>

#include "cuda/cudnn_api.h"

namespace ours = inception::cudnn;

// Maps a type spelled with our declarations to the same type spelled with the real header's.
template <typename T> struct Real { using type = T; };
template <typename T> using RealT = typename Real<T>::type;
template <typename T> struct Real<T*> { using type = RealT<T>*; };
template <typename T> struct Real<const T> { using type = const RealT<T>; };
template <typename R, typename... A> struct Real<R (*)(A...)> { using type = RealT<R> (*)(RealT<A>...); };
#define INCEPTION_REAL(ours_type, real_type) \
  template <> struct Real<ours_type> { using type = real_type; };
INCEPTION_REAL(ours::Status, cudnnStatus_t)
INCEPTION_REAL(ours::DataType, cudnnDataType_t)
INCEPTION_REAL(ours::TensorFormat, cudnnTensorFormat_t)
INCEPTION_REAL(ours::ConvolutionMode, cudnnConvolutionMode_t)
INCEPTION_REAL(ours::ConvFwdAlgo, cudnnConvolutionFwdAlgo_t)
INCEPTION_REAL(ours::MathType, cudnnMathType_t)
INCEPTION_REAL(ours::ActivationMode, cudnnActivationMode_t)
INCEPTION_REAL(ours::NanPropagation, cudnnNanPropagation_t)
INCEPTION_REAL(ours::PoolingMode, cudnnPoolingMode_t)
INCEPTION_REAL(ours::Determinism, cudnnDeterminism_t)
INCEPTION_REAL(ours::ConvFwdAlgoPerf, cudnnConvolutionFwdAlgoPerf_t)
INCEPTION_REAL(ours::BackendDescriptorType, cudnnBackendDescriptorType_t)
INCEPTION_REAL(ours::BackendAttributeName, cudnnBackendAttributeName_t)
INCEPTION_REAL(ours::BackendAttributeType, cudnnBackendAttributeType_t)
INCEPTION_REAL(ours::cudnnContext, ::cudnnContext)
INCEPTION_REAL(ours::cudnnTensorStruct, ::cudnnTensorStruct)
INCEPTION_REAL(ours::cudnnFilterStruct, ::cudnnFilterStruct)
INCEPTION_REAL(ours::cudnnConvolutionStruct, ::cudnnConvolutionStruct)
INCEPTION_REAL(ours::cudnnActivationStruct, ::cudnnActivationStruct)
INCEPTION_REAL(ours::cudnnPoolingStruct, ::cudnnPoolingStruct)
#undef INCEPTION_REAL

// Function types, argument by argument.
#define INCEPTION_CHECK_FN(member, symbol, type) \
  static_assert(std::is_same_v<RealT<ours::type>, decltype(&::symbol)>, #symbol ": our prototype differs from cudnn.h");
CUDNN_REQUIRED_FUNCTIONS(INCEPTION_CHECK_FN)
CUDNN_OPTIONAL_FUNCTIONS(INCEPTION_CHECK_FN)
#undef INCEPTION_CHECK_FN

// Enum values.
#define INCEPTION_SAME(ours_value, real_value) \
  static_assert(static_cast<int>(ours_value) == static_cast<int>(real_value), #real_value " differs");
INCEPTION_SAME(ours::Status::kSuccess, CUDNN_STATUS_SUCCESS)
INCEPTION_SAME(ours::Status::kNotInitialized, CUDNN_STATUS_NOT_INITIALIZED)
INCEPTION_SAME(ours::Status::kSublibraryVersionMismatch, CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
INCEPTION_SAME(ours::Status::kSublibraryLoadingFailed, CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
INCEPTION_SAME(ours::Status::kBadParam, CUDNN_STATUS_BAD_PARAM)
INCEPTION_SAME(ours::Status::kNotSupported, CUDNN_STATUS_NOT_SUPPORTED)
INCEPTION_SAME(ours::Status::kInternalError, CUDNN_STATUS_INTERNAL_ERROR)
INCEPTION_SAME(ours::Status::kExecutionFailed, CUDNN_STATUS_EXECUTION_FAILED)
INCEPTION_SAME(3002, CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
INCEPTION_SAME(3004, CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
INCEPTION_SAME(4004, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
INCEPTION_SAME(5003, CUDNN_STATUS_EXECUTION_FAILED_CUDART)
INCEPTION_SAME(ours::DataType::kFloat, CUDNN_DATA_FLOAT)
INCEPTION_SAME(ours::DataType::kDouble, CUDNN_DATA_DOUBLE)
INCEPTION_SAME(ours::DataType::kHalf, CUDNN_DATA_HALF)
INCEPTION_SAME(ours::TensorFormat::kNchw, CUDNN_TENSOR_NCHW)
INCEPTION_SAME(ours::TensorFormat::kNhwc, CUDNN_TENSOR_NHWC)
INCEPTION_SAME(ours::ConvolutionMode::kConvolution, CUDNN_CONVOLUTION)
INCEPTION_SAME(ours::ConvolutionMode::kCrossCorrelation, CUDNN_CROSS_CORRELATION)
INCEPTION_SAME(ours::ConvFwdAlgo::kImplicitGemm, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
INCEPTION_SAME(ours::ConvFwdAlgo::kImplicitPrecompGemm, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
INCEPTION_SAME(ours::ConvFwdAlgo::kGemm, CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
INCEPTION_SAME(ours::ConvFwdAlgo::kDirect, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT)
INCEPTION_SAME(ours::ConvFwdAlgo::kFft, CUDNN_CONVOLUTION_FWD_ALGO_FFT)
INCEPTION_SAME(ours::ConvFwdAlgo::kFftTiling, CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING)
INCEPTION_SAME(ours::ConvFwdAlgo::kWinograd, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD)
INCEPTION_SAME(ours::ConvFwdAlgo::kWinogradNonfused, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED)
INCEPTION_SAME(ours::ConvFwdAlgo::kCount, CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
INCEPTION_SAME(ours::MathType::kDefault, CUDNN_DEFAULT_MATH)
INCEPTION_SAME(ours::MathType::kTensorOp, CUDNN_TENSOR_OP_MATH)
INCEPTION_SAME(ours::MathType::kTensorOpAllowConversion, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
INCEPTION_SAME(ours::MathType::kFma, CUDNN_FMA_MATH)
INCEPTION_SAME(ours::ActivationMode::kSigmoid, CUDNN_ACTIVATION_SIGMOID)
INCEPTION_SAME(ours::ActivationMode::kRelu, CUDNN_ACTIVATION_RELU)
INCEPTION_SAME(ours::ActivationMode::kTanh, CUDNN_ACTIVATION_TANH)
INCEPTION_SAME(ours::ActivationMode::kClippedRelu, CUDNN_ACTIVATION_CLIPPED_RELU)
INCEPTION_SAME(ours::ActivationMode::kElu, CUDNN_ACTIVATION_ELU)
INCEPTION_SAME(ours::ActivationMode::kIdentity, CUDNN_ACTIVATION_IDENTITY)
INCEPTION_SAME(ours::NanPropagation::kNotPropagate, CUDNN_NOT_PROPAGATE_NAN)
INCEPTION_SAME(ours::NanPropagation::kPropagate, CUDNN_PROPAGATE_NAN)
INCEPTION_SAME(ours::PoolingMode::kMax, CUDNN_POOLING_MAX)
INCEPTION_SAME(ours::PoolingMode::kAverageCountIncludePadding, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING)
INCEPTION_SAME(ours::PoolingMode::kAverageCountExcludePadding, CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING)
INCEPTION_SAME(ours::PoolingMode::kMaxDeterministic, CUDNN_POOLING_MAX_DETERMINISTIC)
INCEPTION_SAME(ours::Determinism::kNonDeterministic, CUDNN_NON_DETERMINISTIC)
INCEPTION_SAME(ours::Determinism::kDeterministic, CUDNN_DETERMINISTIC)
// Backend (graph) API values graph_conv.cc uses.
INCEPTION_SAME(ours::BackendDescriptorType::kPointwise, CUDNN_BACKEND_POINTWISE_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kConvolution, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kEngine, CUDNN_BACKEND_ENGINE_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kEngineCfg, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kEngineHeur, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kExecutionPlan, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kOperationConvolutionForward, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kOperationPointwise, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kOperationGraph, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kVariantPack, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)
INCEPTION_SAME(ours::BackendDescriptorType::kTensor, CUDNN_BACKEND_TENSOR_DESCRIPTOR)
INCEPTION_SAME(ours::BackendAttributeName::kPointwiseMode, CUDNN_ATTR_POINTWISE_MODE)
INCEPTION_SAME(ours::BackendAttributeName::kPointwiseMathPrec, CUDNN_ATTR_POINTWISE_MATH_PREC)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionCompType, CUDNN_ATTR_CONVOLUTION_COMP_TYPE)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionConvMode, CUDNN_ATTR_CONVOLUTION_CONV_MODE)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionDilations, CUDNN_ATTR_CONVOLUTION_DILATIONS)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionFilterStrides, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionPostPaddings, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionPrePaddings, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS)
INCEPTION_SAME(ours::BackendAttributeName::kConvolutionSpatialDims, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS)
INCEPTION_SAME(ours::BackendAttributeName::kEngineHeurMode, CUDNN_ATTR_ENGINEHEUR_MODE)
INCEPTION_SAME(ours::BackendAttributeName::kEngineHeurOperationGraph, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH)
INCEPTION_SAME(ours::BackendAttributeName::kEngineHeurResults, CUDNN_ATTR_ENGINEHEUR_RESULTS)
INCEPTION_SAME(ours::BackendAttributeName::kEngineCfgEngine, CUDNN_ATTR_ENGINECFG_ENGINE)
INCEPTION_SAME(ours::BackendAttributeName::kExecutionPlanHandle, CUDNN_ATTR_EXECUTION_PLAN_HANDLE)
INCEPTION_SAME(ours::BackendAttributeName::kExecutionPlanEngineConfig, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG)
INCEPTION_SAME(ours::BackendAttributeName::kExecutionPlanWorkspaceSize, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardAlpha, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardBeta, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardConvDesc, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardW, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardX, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X)
INCEPTION_SAME(ours::BackendAttributeName::kOperationConvolutionForwardY, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y)
INCEPTION_SAME(ours::BackendAttributeName::kOperationPointwisePwDescriptor, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR)
INCEPTION_SAME(ours::BackendAttributeName::kOperationPointwiseXDesc, CUDNN_ATTR_OPERATION_POINTWISE_XDESC)
INCEPTION_SAME(ours::BackendAttributeName::kOperationPointwiseBDesc, CUDNN_ATTR_OPERATION_POINTWISE_BDESC)
INCEPTION_SAME(ours::BackendAttributeName::kOperationPointwiseYDesc, CUDNN_ATTR_OPERATION_POINTWISE_YDESC)
INCEPTION_SAME(ours::BackendAttributeName::kOperationGraphHandle, CUDNN_ATTR_OPERATIONGRAPH_HANDLE)
INCEPTION_SAME(ours::BackendAttributeName::kOperationGraphOps, CUDNN_ATTR_OPERATIONGRAPH_OPS)
INCEPTION_SAME(ours::BackendAttributeName::kTensorByteAlignment, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT)
INCEPTION_SAME(ours::BackendAttributeName::kTensorDataType, CUDNN_ATTR_TENSOR_DATA_TYPE)
INCEPTION_SAME(ours::BackendAttributeName::kTensorDimensions, CUDNN_ATTR_TENSOR_DIMENSIONS)
INCEPTION_SAME(ours::BackendAttributeName::kTensorStrides, CUDNN_ATTR_TENSOR_STRIDES)
INCEPTION_SAME(ours::BackendAttributeName::kTensorUniqueId, CUDNN_ATTR_TENSOR_UNIQUE_ID)
INCEPTION_SAME(ours::BackendAttributeName::kTensorIsVirtual, CUDNN_ATTR_TENSOR_IS_VIRTUAL)
INCEPTION_SAME(ours::BackendAttributeName::kVariantPackUniqueIds, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS)
INCEPTION_SAME(ours::BackendAttributeName::kVariantPackDataPointers, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS)
INCEPTION_SAME(ours::BackendAttributeName::kVariantPackWorkspace, CUDNN_ATTR_VARIANT_PACK_WORKSPACE)
INCEPTION_SAME(ours::BackendAttributeName::kEngineGlobalIndex, CUDNN_ATTR_ENGINE_GLOBAL_INDEX)
INCEPTION_SAME(ours::BackendAttributeName::kEngineNumericalNote, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE)
INCEPTION_SAME(ours::BackendAttributeName::kEngineBehaviorNote, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE)
INCEPTION_SAME(ours::BackendAttributeType::kHandle, CUDNN_TYPE_HANDLE)
INCEPTION_SAME(ours::BackendAttributeType::kDataType, CUDNN_TYPE_DATA_TYPE)
INCEPTION_SAME(ours::BackendAttributeType::kBoolean, CUDNN_TYPE_BOOLEAN)
INCEPTION_SAME(ours::BackendAttributeType::kInt64, CUDNN_TYPE_INT64)
INCEPTION_SAME(ours::BackendAttributeType::kFloat, CUDNN_TYPE_FLOAT)
INCEPTION_SAME(ours::BackendAttributeType::kDouble, CUDNN_TYPE_DOUBLE)
INCEPTION_SAME(ours::BackendAttributeType::kVoidPtr, CUDNN_TYPE_VOID_PTR)
INCEPTION_SAME(ours::BackendAttributeType::kConvolutionMode, CUDNN_TYPE_CONVOLUTION_MODE)
INCEPTION_SAME(ours::BackendAttributeType::kHeurMode, CUDNN_TYPE_HEUR_MODE)
INCEPTION_SAME(ours::BackendAttributeType::kNumericalNote, CUDNN_TYPE_NUMERICAL_NOTE)
INCEPTION_SAME(ours::BackendAttributeType::kPointwiseMode, CUDNN_TYPE_POINTWISE_MODE)
INCEPTION_SAME(ours::BackendAttributeType::kBackendDescriptor, CUDNN_TYPE_BACKEND_DESCRIPTOR)
INCEPTION_SAME(ours::BackendAttributeType::kBehaviorNote, CUDNN_TYPE_BEHAVIOR_NOTE)
INCEPTION_SAME(ours::PointwiseMode::kAdd, CUDNN_POINTWISE_ADD)
INCEPTION_SAME(ours::PointwiseMode::kMul, CUDNN_POINTWISE_MUL)
INCEPTION_SAME(ours::PointwiseMode::kIdentity, CUDNN_POINTWISE_IDENTITY)
INCEPTION_SAME(ours::PointwiseMode::kReluFwd, CUDNN_POINTWISE_RELU_FWD)
INCEPTION_SAME(ours::HeurMode::kInstant, CUDNN_HEUR_MODE_INSTANT)
INCEPTION_SAME(ours::HeurMode::kB, CUDNN_HEUR_MODE_B)
INCEPTION_SAME(ours::HeurMode::kFallback, CUDNN_HEUR_MODE_FALLBACK)
INCEPTION_SAME(ours::HeurMode::kA, CUDNN_HEUR_MODE_A)
INCEPTION_SAME(ours::NumericalNote::kTensorCore, CUDNN_NUMERICAL_NOTE_TENSOR_CORE)
INCEPTION_SAME(ours::NumericalNote::kDownConvertInputs, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
INCEPTION_SAME(ours::NumericalNote::kReducedPrecisionReduction, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION)
INCEPTION_SAME(ours::NumericalNote::kFft, CUDNN_NUMERICAL_NOTE_FFT)
INCEPTION_SAME(ours::NumericalNote::kNondeterministic, CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)
INCEPTION_SAME(ours::NumericalNote::kWinograd, CUDNN_NUMERICAL_NOTE_WINOGRAD)
INCEPTION_SAME(ours::BehaviorNote::kRuntimeCompilation, CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION)
INCEPTION_SAME(ours::BehaviorNote::kSupportsCudaGraphNativeApi, CUDNN_BEHAVIOR_NOTE_SUPPORTS_CUDA_GRAPH_NATIVE_API)
#undef INCEPTION_SAME

// Enum sizes and the perf struct layout.
static_assert(sizeof(ours::Status) == sizeof(cudnnStatus_t), "cudnnStatus_t size");
static_assert(sizeof(ours::DataType) == sizeof(cudnnDataType_t), "cudnnDataType_t size");
static_assert(sizeof(ours::MathType) == sizeof(cudnnMathType_t), "cudnnMathType_t size");
static_assert(sizeof(ours::BackendAttributeName) == sizeof(cudnnBackendAttributeName_t), "attribute name size");
static_assert(sizeof(ours::PointwiseMode) == sizeof(cudnnPointwiseMode_t), "cudnnPointwiseMode_t size");
static_assert(sizeof(ours::HeurMode) == sizeof(cudnnBackendHeurMode_t), "cudnnBackendHeurMode_t size");
static_assert(sizeof(ours::NumericalNote) == sizeof(cudnnBackendNumericalNote_t), "numerical note size");
static_assert(sizeof(ours::BehaviorNote) == sizeof(cudnnBackendBehaviorNote_t), "behavior note size");
static_assert(sizeof(ours::ConvolutionMode) == sizeof(cudnnConvolutionMode_t), "cudnnConvolutionMode_t size");
static_assert(std::is_same_v<ours::BackendDescriptor, cudnnBackendDescriptor_t>, "cudnnBackendDescriptor_t is void*");
static_assert(sizeof(ours::ConvFwdAlgoPerf) == sizeof(cudnnConvolutionFwdAlgoPerf_t), "perf struct size");
#define INCEPTION_SAME_OFFSET(field) \
  static_assert(offsetof(ours::ConvFwdAlgoPerf, field) == offsetof(cudnnConvolutionFwdAlgoPerf_t, field), #field " offset");
INCEPTION_SAME_OFFSET(algo)
INCEPTION_SAME_OFFSET(status)
INCEPTION_SAME_OFFSET(time)
INCEPTION_SAME_OFFSET(memory)
INCEPTION_SAME_OFFSET(determinism)
INCEPTION_SAME_OFFSET(mathType)
INCEPTION_SAME_OFFSET(reserved)
#undef INCEPTION_SAME_OFFSET

int main() { return 0; }
