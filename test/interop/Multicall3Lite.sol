// SPDX-License-Identifier: MIT OR Apache-2.0
// A stand-in for Multicall3's `tryAggregate`, placed by the interop suite at Multicall3's usual
// address. The official x402 facilitator uses it only to explain why a payment would fail
// (balance, nonce used, token name/version).
pragma solidity ^0.8.20;

contract Multicall3Lite {
    struct Call {
        address target;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// Calls each target in turn; reverts on the first failure only when `requireSuccess`.
    function tryAggregate(bool requireSuccess, Call[] calldata calls) external payable returns (Result[] memory results) {
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool ok, bytes memory data) = calls[i].target.call(calls[i].callData);
            require(ok || !requireSuccess, "Multicall3Lite: call failed");
            results[i] = Result(ok, data);
        }
    }
}
