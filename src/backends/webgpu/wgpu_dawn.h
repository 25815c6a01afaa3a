/* The part of the webgpu.h C API that wsd calls, declared for exactly one
 * build: libwebgpu_wrapper.so from the npm package bun-webgpu-linux-x64 0.1.7
 * (a Dawn build; scripts/get_dawn.sh fetches it and checks its sha512). The
 * package ships no header, so the layouts below were matched to that binary:
 *
 *  - Struct layouts, STypes, callback-info structs and WGPUStringView follow
 *    the standard webgpu.h of mid-2025.
 *  - Feature numbers are the ones from BEFORE the June 2025 renumbering
 *    (ShaderF16 = 0x0A, Subgroups = 0x11, CoreFeaturesAndLimits = 0x12).
 *    Current upstream headers use other values; mixing them up silently
 *    enables the wrong feature. gpu_dawn.c checks the numbering at start-up.
 *  - Dawn's WGPULimits has four uint32_t after maxImmediateSize that upstream
 *    lacks; we declare them, plus spare room and a canary that start-up checks.
 *
 * Pipelines use the automatic layout (layout = NULL), so no bind-group-layout
 * or pipeline-layout structs are declared: fewer layouts to get wrong.
 *
 * Nothing here is linked: gpu_dawn.c dlopens the library and fills a table of
 * function pointers (WGD_FUNCS below), so wsd builds and runs without Dawn.
 * Bumping the package version means re-checking every line of this file. */
#ifndef WSD_WEBGPU_WGPU_DAWN_H
#define WSD_WEBGPU_WGPU_DAWN_H

#include <stddef.h>
#include <stdint.h>

#define WGD_PACKAGE "bun-webgpu-linux-x64@0.1.7"
#define WGD_LIBRARY "libwebgpu_wrapper.so"

#define WGPU_STRLEN SIZE_MAX
#define WGPU_WHOLE_SIZE UINT64_MAX

typedef uint32_t WGPUBool;
typedef uint64_t WGPUFlags;

typedef struct WGPUInstanceImpl *WGPUInstance;
typedef struct WGPUAdapterImpl *WGPUAdapter;
typedef struct WGPUDeviceImpl *WGPUDevice;
typedef struct WGPUQueueImpl *WGPUQueue;
typedef struct WGPUBufferImpl *WGPUBuffer;
typedef struct WGPUShaderModuleImpl *WGPUShaderModule;
typedef struct WGPUComputePipelineImpl *WGPUComputePipeline;
typedef struct WGPUPipelineLayoutImpl *WGPUPipelineLayout;
typedef struct WGPUBindGroupLayoutImpl *WGPUBindGroupLayout;
typedef struct WGPUBindGroupImpl *WGPUBindGroup;
typedef struct WGPUCommandEncoderImpl *WGPUCommandEncoder;
typedef struct WGPUComputePassEncoderImpl *WGPUComputePassEncoder;
typedef struct WGPUCommandBufferImpl *WGPUCommandBuffer;

/* A (pointer, length) string; length WGPU_STRLEN means NUL-terminated. */
typedef struct WGPUStringView {
    const char *data;
    size_t length;
} WGPUStringView;

typedef struct WGPUChainedStruct {
    struct WGPUChainedStruct *next;
    uint32_t sType;
} WGPUChainedStruct;

typedef struct WGPUFuture {
    uint64_t id;
} WGPUFuture;

/* sTypes */
#define WGPU_STYPE_SHADER_SOURCE_WGSL 0x00000002u
#define WGPU_STYPE_DAWN_TOGGLES_DESCRIPTOR 0x0005000Au

/* callback modes */
#define WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS 2u

/* status codes (all "success" values are 1 in this ABI) */
#define WGPU_STATUS_SUCCESS 1u
#define WGPU_REQUEST_ADAPTER_SUCCESS 1u
#define WGPU_REQUEST_DEVICE_SUCCESS 1u
#define WGPU_MAP_ASYNC_SUCCESS 1u
#define WGPU_QUEUE_WORK_DONE_SUCCESS 1u

#define WGPU_FEATURE_LEVEL_CORE 2u
#define WGPU_POWER_PREFERENCE_HIGH_PERFORMANCE 2u

#define WGPU_BACKEND_UNDEFINED 0u
#define WGPU_BACKEND_NULL 1u
#define WGPU_BACKEND_WEBGPU 2u
#define WGPU_BACKEND_D3D11 3u
#define WGPU_BACKEND_D3D12 4u
#define WGPU_BACKEND_METAL 5u
#define WGPU_BACKEND_VULKAN 6u
#define WGPU_BACKEND_OPENGL 7u
#define WGPU_BACKEND_OPENGLES 8u

#define WGPU_ADAPTER_DISCRETE_GPU 1u
#define WGPU_ADAPTER_INTEGRATED_GPU 2u
#define WGPU_ADAPTER_CPU 3u
#define WGPU_ADAPTER_UNKNOWN 4u

/* Device-lost reasons */
#define WGPU_DEVICE_LOST_UNKNOWN 1u
#define WGPU_DEVICE_LOST_DESTROYED 2u
#define WGPU_DEVICE_LOST_CALLBACK_CANCELLED 3u
#define WGPU_DEVICE_LOST_FAILED_CREATION 4u

/* Error types */
#define WGPU_ERROR_VALIDATION 2u
#define WGPU_ERROR_OUT_OF_MEMORY 3u
#define WGPU_ERROR_INTERNAL 4u

/* Feature numbers of THIS build (pre-June-2025 numbering). Under the newer
 * numbering the same values mean other features (0x12 = Subgroups there). */
typedef uint32_t WGPUFeatureName;
#define WGD_FEATURE_TIMESTAMP_QUERY 0x03u
#define WGD_FEATURE_SHADER_F16 0x0Au
#define WGD_FEATURE_SUBGROUPS 0x11u
#define WGD_FEATURE_CORE_FEATURES_AND_LIMITS 0x12u

/* Buffer usage flags and map modes */
#define WGPU_BUFFER_USAGE_MAP_READ 0x1ull
#define WGPU_BUFFER_USAGE_MAP_WRITE 0x2ull
#define WGPU_BUFFER_USAGE_COPY_SRC 0x4ull
#define WGPU_BUFFER_USAGE_COPY_DST 0x8ull
#define WGPU_BUFFER_USAGE_UNIFORM 0x40ull
#define WGPU_BUFFER_USAGE_STORAGE 0x80ull
#define WGPU_MAP_MODE_READ 0x1ull

/* Dawn's limits struct: the standard fields, then Dawn's four extra ones.
 * `wgd_spare` gives room should the library write more than we know of;
 * gpu_dawn.c fills it with a canary and refuses to run if it changed. */
#define WGD_LIMITS_SPARE 16
typedef struct WGPULimits {
    WGPUChainedStruct *nextInChain;
    uint32_t maxTextureDimension1D;
    uint32_t maxTextureDimension2D;
    uint32_t maxTextureDimension3D;
    uint32_t maxTextureArrayLayers;
    uint32_t maxBindGroups;
    uint32_t maxBindGroupsPlusVertexBuffers;
    uint32_t maxBindingsPerBindGroup;
    uint32_t maxDynamicUniformBuffersPerPipelineLayout;
    uint32_t maxDynamicStorageBuffersPerPipelineLayout;
    uint32_t maxSampledTexturesPerShaderStage;
    uint32_t maxSamplersPerShaderStage;
    uint32_t maxStorageBuffersPerShaderStage;
    uint32_t maxStorageTexturesPerShaderStage;
    uint32_t maxUniformBuffersPerShaderStage;
    uint64_t maxUniformBufferBindingSize;
    uint64_t maxStorageBufferBindingSize;
    uint32_t minUniformBufferOffsetAlignment;
    uint32_t minStorageBufferOffsetAlignment;
    uint32_t maxVertexBuffers;
    uint64_t maxBufferSize;
    uint32_t maxVertexAttributes;
    uint32_t maxVertexBufferArrayStride;
    uint32_t maxInterStageShaderVariables;
    uint32_t maxColorAttachments;
    uint32_t maxColorAttachmentBytesPerSample;
    uint32_t maxComputeWorkgroupStorageSize;
    uint32_t maxComputeInvocationsPerWorkgroup;
    uint32_t maxComputeWorkgroupSizeX;
    uint32_t maxComputeWorkgroupSizeY;
    uint32_t maxComputeWorkgroupSizeZ;
    uint32_t maxComputeWorkgroupsPerDimension;
    uint32_t maxImmediateSize;
    /* Dawn-only */
    uint32_t maxStorageBuffersInVertexStage;
    uint32_t maxStorageTexturesInVertexStage;
    uint32_t maxStorageBuffersInFragmentStage;
    uint32_t maxStorageTexturesInFragmentStage;
    uint32_t wgd_spare[WGD_LIMITS_SPARE];
} WGPULimits;

typedef struct WGPUAdapterInfo {
    WGPUChainedStruct *nextInChain;
    WGPUStringView vendor;
    WGPUStringView architecture;
    WGPUStringView device;
    WGPUStringView description;
    uint32_t backendType;
    uint32_t adapterType;
    uint32_t vendorID;
    uint32_t deviceID;
    uint32_t subgroupMinSize;
    uint32_t subgroupMaxSize;
} WGPUAdapterInfo;

typedef struct WGPUSupportedFeatures {
    size_t featureCount;
    const WGPUFeatureName *features;
} WGPUSupportedFeatures;

/* callbacks */
typedef void (*WGPURequestAdapterCallback)(uint32_t status, WGPUAdapter adapter, WGPUStringView message,
                                           void *userdata1, void *userdata2);
typedef void (*WGPURequestDeviceCallback)(uint32_t status, WGPUDevice device, WGPUStringView message,
                                          void *userdata1, void *userdata2);
typedef void (*WGPUBufferMapCallback)(uint32_t status, WGPUStringView message, void *userdata1, void *userdata2);
typedef void (*WGPUQueueWorkDoneCallback)(uint32_t status, WGPUStringView message, void *userdata1, void *userdata2);
typedef void (*WGPUDeviceLostCallback)(const WGPUDevice *device, uint32_t reason, WGPUStringView message,
                                       void *userdata1, void *userdata2);
typedef void (*WGPUUncapturedErrorCallback)(const WGPUDevice *device, uint32_t type, WGPUStringView message,
                                            void *userdata1, void *userdata2);

typedef struct WGPURequestAdapterCallbackInfo {
    WGPUChainedStruct *nextInChain;
    uint32_t mode;
    WGPURequestAdapterCallback callback;
    void *userdata1, *userdata2;
} WGPURequestAdapterCallbackInfo;
typedef struct WGPURequestDeviceCallbackInfo {
    WGPUChainedStruct *nextInChain;
    uint32_t mode;
    WGPURequestDeviceCallback callback;
    void *userdata1, *userdata2;
} WGPURequestDeviceCallbackInfo;
typedef struct WGPUBufferMapCallbackInfo {
    WGPUChainedStruct *nextInChain;
    uint32_t mode;
    WGPUBufferMapCallback callback;
    void *userdata1, *userdata2;
} WGPUBufferMapCallbackInfo;
typedef struct WGPUQueueWorkDoneCallbackInfo {
    WGPUChainedStruct *nextInChain;
    uint32_t mode;
    WGPUQueueWorkDoneCallback callback;
    void *userdata1, *userdata2;
} WGPUQueueWorkDoneCallbackInfo;
typedef struct WGPUDeviceLostCallbackInfo {
    WGPUChainedStruct *nextInChain;
    uint32_t mode;
    WGPUDeviceLostCallback callback;
    void *userdata1, *userdata2;
} WGPUDeviceLostCallbackInfo;
/* (no mode: uncaptured errors are reported whenever they happen) */
typedef struct WGPUUncapturedErrorCallbackInfo {
    WGPUChainedStruct *nextInChain;
    WGPUUncapturedErrorCallback callback;
    void *userdata1, *userdata2;
} WGPUUncapturedErrorCallbackInfo;

typedef struct WGPURequestAdapterOptions {
    WGPUChainedStruct *nextInChain;
    uint32_t featureLevel;
    uint32_t powerPreference;
    WGPUBool forceFallbackAdapter;
    uint32_t backendType;
    void *compatibleSurface;
} WGPURequestAdapterOptions;

typedef struct WGPUQueueDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
} WGPUQueueDescriptor;

typedef struct WGPUDeviceDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    size_t requiredFeatureCount;
    const WGPUFeatureName *requiredFeatures;
    const WGPULimits *requiredLimits;
    WGPUQueueDescriptor defaultQueue;
    WGPUDeviceLostCallbackInfo deviceLostCallbackInfo;
    WGPUUncapturedErrorCallbackInfo uncapturedErrorCallbackInfo;
} WGPUDeviceDescriptor;

/* Dawn extension, chained into the device descriptor: named toggles. */
typedef struct WGPUDawnTogglesDescriptor {
    WGPUChainedStruct chain;
    size_t enabledToggleCount;
    const char *const *enabledToggles;
    size_t disabledToggleCount;
    const char *const *disabledToggles;
} WGPUDawnTogglesDescriptor;

typedef struct WGPUShaderSourceWGSL {
    WGPUChainedStruct chain;
    WGPUStringView code;
} WGPUShaderSourceWGSL;

typedef struct WGPUShaderModuleDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
} WGPUShaderModuleDescriptor;

typedef struct WGPUBufferDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUFlags usage;
    uint64_t size;
    WGPUBool mappedAtCreation;
} WGPUBufferDescriptor;

typedef struct WGPUConstantEntry {
    WGPUChainedStruct *nextInChain;
    WGPUStringView key;
    double value;
} WGPUConstantEntry;

typedef struct WGPUComputeState {
    WGPUChainedStruct *nextInChain;
    WGPUShaderModule module;
    WGPUStringView entryPoint;
    size_t constantCount;
    const WGPUConstantEntry *constants;
} WGPUComputeState;

typedef struct WGPUComputePipelineDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUPipelineLayout layout; /* NULL: automatic layout */
    WGPUComputeState compute;
} WGPUComputePipelineDescriptor;

typedef struct WGPUBindGroupEntry {
    WGPUChainedStruct *nextInChain;
    uint32_t binding;
    WGPUBuffer buffer;
    uint64_t offset;
    uint64_t size;
    void *sampler;
    void *textureView;
} WGPUBindGroupEntry;

typedef struct WGPUBindGroupDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    WGPUBindGroupLayout layout;
    size_t entryCount;
    const WGPUBindGroupEntry *entries;
} WGPUBindGroupDescriptor;

typedef struct WGPUCommandEncoderDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
} WGPUCommandEncoderDescriptor;

typedef struct WGPUComputePassDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
    const void *timestampWrites;
} WGPUComputePassDescriptor;

typedef struct WGPUCommandBufferDescriptor {
    WGPUChainedStruct *nextInChain;
    WGPUStringView label;
} WGPUCommandBufferDescriptor;

/* Every function wsd uses, as X(return type, name, parameter list). gpu_dawn.c
 * expands this into a table of pointers and resolves each with dlsym; a
 * missing symbol fails start-up with its name. */
#define WGD_FUNCS(X)                                                                                         \
    X(WGPUInstance, wgpuCreateInstance, (const void *descriptor))                                            \
    X(void, wgpuInstanceProcessEvents, (WGPUInstance instance))                                              \
    X(WGPUFuture, wgpuInstanceRequestAdapter,                                                                \
      (WGPUInstance instance, const WGPURequestAdapterOptions *options, WGPURequestAdapterCallbackInfo info)) \
    X(void, wgpuInstanceRelease, (WGPUInstance instance))                                                    \
    X(uint32_t, wgpuAdapterGetInfo, (WGPUAdapter adapter, WGPUAdapterInfo *info))                            \
    X(void, wgpuAdapterInfoFreeMembers, (WGPUAdapterInfo info))                                              \
    X(uint32_t, wgpuAdapterGetLimits, (WGPUAdapter adapter, WGPULimits *limits))                             \
    X(WGPUBool, wgpuAdapterHasFeature, (WGPUAdapter adapter, WGPUFeatureName feature))                       \
    X(void, wgpuAdapterGetFeatures, (WGPUAdapter adapter, WGPUSupportedFeatures *features))                  \
    X(WGPUFuture, wgpuAdapterRequestDevice,                                                                  \
      (WGPUAdapter adapter, const WGPUDeviceDescriptor *descriptor, WGPURequestDeviceCallbackInfo info))     \
    X(void, wgpuAdapterRelease, (WGPUAdapter adapter))                                                       \
    X(void, wgpuSupportedFeaturesFreeMembers, (WGPUSupportedFeatures features))                              \
    X(WGPUQueue, wgpuDeviceGetQueue, (WGPUDevice device))                                                    \
    X(uint32_t, wgpuDeviceGetLimits, (WGPUDevice device, WGPULimits *limits))                                \
    X(WGPUBool, wgpuDeviceHasFeature, (WGPUDevice device, WGPUFeatureName feature))                          \
    X(void, wgpuDeviceGetFeatures, (WGPUDevice device, WGPUSupportedFeatures *features))                     \
    X(WGPUShaderModule, wgpuDeviceCreateShaderModule,                                                        \
      (WGPUDevice device, const WGPUShaderModuleDescriptor *descriptor))                                     \
    X(WGPUBuffer, wgpuDeviceCreateBuffer, (WGPUDevice device, const WGPUBufferDescriptor *descriptor))       \
    X(WGPUComputePipeline, wgpuDeviceCreateComputePipeline,                                                  \
      (WGPUDevice device, const WGPUComputePipelineDescriptor *descriptor))                                  \
    X(WGPUBindGroup, wgpuDeviceCreateBindGroup, (WGPUDevice device, const WGPUBindGroupDescriptor *descriptor)) \
    X(WGPUCommandEncoder, wgpuDeviceCreateCommandEncoder,                                                    \
      (WGPUDevice device, const WGPUCommandEncoderDescriptor *descriptor))                                   \
    X(void, wgpuDeviceDestroy, (WGPUDevice device))                                                          \
    X(void, wgpuDeviceRelease, (WGPUDevice device))                                                          \
    X(WGPUBindGroupLayout, wgpuComputePipelineGetBindGroupLayout,                                            \
      (WGPUComputePipeline pipeline, uint32_t groupIndex))                                                   \
    X(void, wgpuComputePipelineRelease, (WGPUComputePipeline pipeline))                                      \
    X(void, wgpuBindGroupLayoutRelease, (WGPUBindGroupLayout layout))                                        \
    X(void, wgpuBindGroupRelease, (WGPUBindGroup group))                                                     \
    X(void, wgpuShaderModuleRelease, (WGPUShaderModule module))                                              \
    X(WGPUComputePassEncoder, wgpuCommandEncoderBeginComputePass,                                            \
      (WGPUCommandEncoder encoder, const WGPUComputePassDescriptor *descriptor))                             \
    X(void, wgpuCommandEncoderCopyBufferToBuffer,                                                            \
      (WGPUCommandEncoder encoder, WGPUBuffer source, uint64_t sourceOffset, WGPUBuffer destination,          \
       uint64_t destinationOffset, uint64_t size))                                                           \
    X(void, wgpuCommandEncoderClearBuffer,                                                                   \
      (WGPUCommandEncoder encoder, WGPUBuffer buffer, uint64_t offset, uint64_t size))                       \
    X(WGPUCommandBuffer, wgpuCommandEncoderFinish,                                                           \
      (WGPUCommandEncoder encoder, const WGPUCommandBufferDescriptor *descriptor))                            \
    X(void, wgpuCommandEncoderRelease, (WGPUCommandEncoder encoder))                                         \
    X(void, wgpuComputePassEncoderSetPipeline, (WGPUComputePassEncoder pass, WGPUComputePipeline pipeline))  \
    X(void, wgpuComputePassEncoderSetBindGroup,                                                              \
      (WGPUComputePassEncoder pass, uint32_t groupIndex, WGPUBindGroup group, size_t dynamicOffsetCount,      \
       const uint32_t *dynamicOffsets))                                                                      \
    X(void, wgpuComputePassEncoderDispatchWorkgroups,                                                        \
      (WGPUComputePassEncoder pass, uint32_t x, uint32_t y, uint32_t z))                                     \
    X(void, wgpuComputePassEncoderEnd, (WGPUComputePassEncoder pass))                                        \
    X(void, wgpuComputePassEncoderRelease, (WGPUComputePassEncoder pass))                                    \
    X(void, wgpuCommandBufferRelease, (WGPUCommandBuffer buffer))                                            \
    X(void, wgpuQueueSubmit, (WGPUQueue queue, size_t commandCount, const WGPUCommandBuffer *commands))     \
    X(void, wgpuQueueWriteBuffer,                                                                            \
      (WGPUQueue queue, WGPUBuffer buffer, uint64_t bufferOffset, const void *data, size_t size))            \
    X(WGPUFuture, wgpuQueueOnSubmittedWorkDone, (WGPUQueue queue, WGPUQueueWorkDoneCallbackInfo info))       \
    X(void, wgpuQueueRelease, (WGPUQueue queue))                                                             \
    X(WGPUFuture, wgpuBufferMapAsync,                                                                        \
      (WGPUBuffer buffer, WGPUFlags mode, size_t offset, size_t size, WGPUBufferMapCallbackInfo info))       \
    X(const void *, wgpuBufferGetConstMappedRange, (WGPUBuffer buffer, size_t offset, size_t size))         \
    X(void, wgpuBufferUnmap, (WGPUBuffer buffer))                                                            \
    X(void, wgpuBufferDestroy, (WGPUBuffer buffer))                                                          \
    X(void, wgpuBufferRelease, (WGPUBuffer buffer))

#endif
